"""MNO events in: 3GPP alarms (TS 28.532 / 28.111), VES stndDefined, threshold crossings, planned work, CM changes."""
