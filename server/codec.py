"""Case <-> JSON. The JSON is sealed (SecretBox) before it reaches any store."""

from __future__ import annotations

import base64
import json
from typing import Any

from rooms import CaseId, ParticipantId
from rooms.model import Case, CaseStatus, Joint, JointStatus, Participant, Place, Role


def case_to_json(case: Case) -> bytes:
    """Serialise every field of ``case``; the inverse of ``case_from_json``."""
    doc = {
        "id": case.id,
        "label": case.label,
        "status": case.status.value,
        "opened_at": case.opened_at,
        "closed_at": case.closed_at,
        "joint": {
            "status": case.joint.status.value,
            "consents": [[r.value, a] for r, a in case.joint.consents],
        },
        "participants": [
            {
                "id": p.id,
                "role": p.role.value,
                "label": p.label,
                "pseudonym": p.pseudonym,
                "public_key": base64.b64encode(p.public_key).decode() if p.public_key else None,
                "online": p.online,
                "joined": p.joined,
                "place": p.place.value if p.place else None,
                "safety_exited": p.safety_exited,
            }
            for p in case.participants
        ],
    }
    return json.dumps(doc, separators=(",", ":")).encode()


def _participant(d: dict[str, Any]) -> Participant:
    return Participant(
        id=ParticipantId(d["id"]),
        role=Role(d["role"]),
        label=d["label"],
        pseudonym=d["pseudonym"],
        public_key=base64.b64decode(d["public_key"]) if d["public_key"] else None,
        online=d["online"],
        joined=d["joined"],
        place=Place(d["place"]) if d["place"] else None,
        safety_exited=d["safety_exited"],
    )


def case_from_json(data: bytes) -> Case:
    """Rebuild a Case written by ``case_to_json``."""
    d = json.loads(data)
    return Case(
        id=CaseId(d["id"]),
        label=d["label"],
        status=CaseStatus(d["status"]),
        participants=tuple(_participant(p) for p in d["participants"]),
        joint=Joint(
            JointStatus(d["joint"]["status"]),
            tuple((Role(r), bool(a)) for r, a in d["joint"]["consents"]),
        ),
        opened_at=d["opened_at"],
        closed_at=d["closed_at"],
    )
