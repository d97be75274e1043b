"""Drives Herald with the official Python server SDK (pusher 3.3.4).

Run by test/python_sdk_test.go, one step per run:
  sdk_test.py auth       authorizes private/presence channels and signs in a
                         user for HERALD_SOCKET_ID
  sdk_test.py api        triggers, batches, queries, send_to_user and
                         validate_webhook (HERALD_WEBHOOK_* from a real webhook)
  sdk_test.py terminate  terminate_user_connections
Prints one JSON object; the Go test checks it. Every SDK error propagates.
"""
import importlib.metadata
import json
import os
import sys

import pusher

PRIVATE = "private-py"
PRESENCE = "presence-py"
USER = "py-user"


def client():
    return pusher.Pusher(
        app_id=os.environ["HERALD_APP_ID"],
        key=os.environ["HERALD_KEY"],
        secret=os.environ["HERALD_SECRET"],
        host=os.environ["HERALD_HOST"],
        port=int(os.environ["HERALD_PORT"]),
        ssl=False,
        timeout=5,
    )


def auth(p):
    sid = os.environ["HERALD_SOCKET_ID"]
    return {
        "private": p.authenticate(channel=PRIVATE, socket_id=sid),
        "presence": p.authenticate(
            channel=PRESENCE, socket_id=sid,
            custom_data={"user_id": USER, "user_info": {"name": "Py"}}),
        "user": p.authenticate_user(sid, {"id": USER, "user_info": {"name": "Py"}}),
    }


def api(p):
    out = {}
    out["trigger"] = p.trigger(PRIVATE, "from-py", {"n": 1})
    out["trigger_batch"] = p.trigger_batch([
        {"channel": PRIVATE, "name": "batch-1", "data": {"n": 2}},
        {"channel": PRIVATE, "name": "batch-2", "data": "plain"},
    ])
    out["channels_info"] = p.channels_info(prefix_filter="presence-", attributes=["user_count"])
    out["channel_info"] = p.channel_info(PRIVATE, attributes=["subscription_count"])
    out["users_info"] = p.users_info(PRESENCE)
    out["send_to_user"] = p.send_to_user(USER, "to-user", {"n": 3})
    body = os.environ.get("HERALD_WEBHOOK_BODY")
    if body:
        hook = p.validate_webhook(
            key=os.environ["HERALD_WEBHOOK_KEY"],
            signature=os.environ["HERALD_WEBHOOK_SIGNATURE"],
            body=body)
        # A wrong signature must be refused (None), not accepted.
        bad = p.validate_webhook(
            key=os.environ["HERALD_WEBHOOK_KEY"], signature="0" * 64, body=body)
        out["webhook"] = {"valid": hook, "bad_signature_refused": bad is None}
    return out


def terminate(p):
    return {"terminate": p.terminate_user_connections(USER)}


STEPS = {"auth": auth, "api": api, "terminate": terminate}

if __name__ == "__main__":
    p = client()
    result = STEPS[sys.argv[1]](p)
    result["sdk_version"] = importlib.metadata.version("pusher")
    json.dump(result, sys.stdout)
