import time, threading
from tests.conftest import *  # noqa

def test_exp(app_client, world):
    c = app_client
    # chunked over-limit
    def gen():
        for _ in range(20):
            yield b"[" + b" " * 100_000
    r = c.post("/api/v1/ingest/notifications", content=gen(), headers={**world.mno.auth(), "content-type": "application/json"})
    print("chunked ingest", r.status_code, r.text[:300])
    r = c.post("/api/v1/topology/import", content=gen(), headers={**world.dso.auth(), "content-type": "application/json"})
    print("chunked import", r.status_code, r.text[:300])
    r = c.post("/api/v1/ingest/notifications", content=b"[" + b" " * 2_000_000 + b"]", headers={**world.mno.auth(), "content-type": "application/json"})
    print("cl ingest", r.status_code, r.headers.get("content-type"), r.text[:300])
    sub = c.post("/api/v1/subscriptions", json={}, headers=world.dso.auth()).json()
    t0 = time.time()
    with c.stream("GET", f"/api/v1/subscriptions/{sub['id']}/events", headers=world.dso.auth("viewer")) as resp:
        print("sse", resp.status_code, resp.headers["content-type"])
        for line in resp.iter_lines():
            print("line", repr(line)); break
    print("closed after", time.time() - t0)
    r = c.post("/api/v1/subscriptions", json={"area": {"type": "Polygon", "coordinates": "x"}}, headers=world.dso.auth())
    print("badarea", r.status_code, r.text[:300])
    r = c.post("/api/v1/status/area", json={"area": {"type": "Polygon", "coordinates": [[[1, 2]]]}}, headers=world.dso.auth())
    print("badarea2", r.status_code, r.text[:300])
    r = c.get("/api/v1/sites", headers=world.mno.auth())
    print("mno sites", r.status_code, r.text[:300])
