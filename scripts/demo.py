"""`make demo`: start the emulator with a seeded mailbox and show what it serves.

Until tap-gmail lands (issue 3) the demo exercises the emulator over HTTP the way a client
would: OAuth refresh, profile, labels, a page of messages, one message in full, history.
"""

from __future__ import annotations

import argparse
import json
import time
import urllib.parse
import urllib.request

from gmail_emulator import EmulatorConfig, start_emulator


def _call(url: str, token: str | None = None, data: bytes | None = None) -> dict:
    request = urllib.request.Request(url, data=data)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=30) as response:
        body = response.read()
    return json.loads(body) if body else {}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--messages", type=int, default=2000)
    args = parser.parse_args()
    started = time.perf_counter()
    server = start_emulator(
        EmulatorConfig(users=["alice@example.com", "bob@example.com"], messages=args.messages),
        port=args.port,
    )
    print(f"emulator up at {server.url} in {time.perf_counter() - started:.2f} s")
    form = urllib.parse.urlencode(
        {
            "grant_type": "refresh_token",
            "client_id": "demo",
            "client_secret": "demo",
            "refresh_token": "demo-refresh-token",
        }
    ).encode()
    token = _call(server.token_url, data=form)["access_token"]
    api = f"{server.url}/gmail/v1/users/me"
    profile = _call(f"{api}/profile", token)
    print(f"profile: {profile}")
    labels = _call(f"{api}/labels", token)["labels"]
    print(f"labels ({len(labels)}): {', '.join(sorted(label['name'] for label in labels))}")
    page = _call(f"{api}/messages?maxResults=5", token)
    print(f"messages.list: resultSizeEstimate={page['resultSizeEstimate']}")
    for ref in page["messages"]:
        msg = _call(
            f"{api}/messages/{ref['id']}?format=metadata"
            "&metadataHeaders=From&metadataHeaders=Subject",
            token,
        )
        headers = {h["name"]: h["value"] for h in msg["payload"]["headers"]}
        print(
            f"  {msg['id']}  {headers.get('From', '')[:32]:32}  {headers.get('Subject', '')[:50]}"
        )
    history = _call(f"{api}/history?startHistoryId={profile['historyId']}", token)
    print(f"history.list from the current historyId: {len(history.get('history', []))} records")
    stats = _call(f"{server.url}/_emulator/stats")
    print(f"stats: {stats['calls']['total']} calls, {stats['quota_units']['total']} quota units")
    server.stop()


if __name__ == "__main__":
    main()
