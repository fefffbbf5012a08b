"""Runs scim2-tester's compliance checks against a Twofold SCIM base URL.

Usage: check.py BASE_URL TOKEN
Prints one line per check (status, title, reason), then a JSON summary line; exits 1 when
any check ends in ERROR or CRITICAL.
"""
import collections
import json
import sys

from httpx2 import Client
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server

base, token = sys.argv[1], sys.argv[2]
http = Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30)
scim = SyncSCIMClient(http)
scim.discover()
results = check_server(scim, raise_exceptions=False)
counts = collections.Counter()
failed = []
for r in results:
    counts[r.status.name] += 1
    print(f"{r.status.name:10} {r.title}: {r.reason}")
    if r.status in (Status.ERROR, Status.CRITICAL):
        failed.append(f"{r.title}: {r.reason}")
print(json.dumps({"counts": counts, "failed": failed}))
sys.exit(1 if failed else 0)
