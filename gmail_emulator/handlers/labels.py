"""users.labels.*."""

from __future__ import annotations


def labels_list(call):
    labels = call.mailbox.labels.labels
    return 200, {"labels": [label.to_json() for label in labels.values()]}


def labels_get(call):
    mailbox = call.mailbox
    with mailbox.lock:
        label = mailbox.labels.get(call.path["id"])
        out = label.to_json()
        out.update(mailbox.label_counts(label.id))
    return 200, out


def labels_create(call):
    with call.mailbox.lock:
        label = call.mailbox.labels.create(call.body)
    return 200, label.to_json()


def labels_update(call):
    with call.mailbox.lock:
        label = call.mailbox.labels.update(call.path["id"], call.body, partial=False)
    return 200, label.to_json()


def labels_patch(call):
    with call.mailbox.lock:
        label = call.mailbox.labels.update(call.path["id"], call.body, partial=True)
    return 200, label.to_json()


def labels_delete(call):
    mailbox = call.mailbox
    with mailbox.lock:
        mailbox.labels.get(call.path["id"])
        mailbox.labels.delete(call.path["id"])
        # Gmail removes a deleted label from every message (and logs labelRemoved).
        mailbox.remove_label_everywhere(call.path["id"])
    return 204, None
