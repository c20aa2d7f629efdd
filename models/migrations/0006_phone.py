"""Phone numbers as one identity: rows stored before E.164 normalisation (`62812...` without
the plus, or with separators) are rewritten to `+62812...`, so that uniqueness and login see
one number. Frozen here on purpose (no import of today's code): digits only, a leading 00
or 62 or trunk 0 read the Indonesian way. Where two accounts turn out to hold the same number
the oldest keeps it and the others' phone is cleared (they still log in by handle or e-mail)."""

import re

from tortoise import migrations
from tortoise.migrations import operations as ops


def _e164(value):
    raw = re.sub(r"[^0-9+]", "", value or "")
    if not raw:
        return None
    if raw.startswith("00"):
        raw = "+" + raw[2:]
    elif raw.startswith("0"):
        raw = "+62" + raw[1:]
    elif raw.startswith("62"):
        raw = "+" + raw
    elif not raw.startswith("+"):
        raw = "+62" + raw
    if raw.startswith("+620"):
        raw = "+62" + raw[4:]
    return raw if re.fullmatch(r"\+[0-9]{6,15}", raw) else None


async def normalise(apps, schema_editor) -> None:
    client = schema_editor.client
    postgres = client.capabilities.dialect == "postgres"
    mark = (lambda i: f"${i}") if postgres else (lambda i: "?")
    rows = await client.execute_query_dict("SELECT id, phone FROM app_user WHERE phone IS NOT NULL ORDER BY id")
    taken = {}
    changes = []
    for row in rows:
        phone = _e164(row["phone"])
        if phone is not None and phone not in taken:
            taken[phone] = row["id"]
            if phone != row["phone"]:
                changes.append((phone, row["id"]))
        else:
            changes.append((None, row["id"]))
    # Clear first, then set: a row may take the number another row is giving up.
    for phone, user_id in changes:
        await client.execute_query(f"UPDATE app_user SET phone = NULL WHERE id = {mark(1)}", [user_id])
    for phone, user_id in changes:
        if phone is not None:
            await client.execute_query(f"UPDATE app_user SET phone = {mark(1)} WHERE id = {mark(2)}", [phone, user_id])


async def keep(apps, schema_editor) -> None:
    """Normalised numbers stay normalised."""


class Migration(migrations.Migration):
    dependencies = [('warga', '0005_notifications')]

    initial = False

    operations = [ops.RunPython(normalise, keep)]
