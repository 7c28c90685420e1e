"""App users (phones): Collect settings and their QR code. Shared by the REST API and the CLI;
the QR drawing also by two-factor login."""

from __future__ import annotations

import base64
import functools
import io
import json
import zlib

import segno


def collect_server_url(base_url: str, token: str, project_id: int) -> str:
    return f"{base_url.rstrip('/')}/v1/key/{token}/projects/{project_id}"


def collect_settings_payload(server_url: str, project_name: str) -> str:
    """Collect's QR settings format: zlib-compressed, base64-encoded JSON."""
    settings = {
        "general": {"server_url": server_url, "form_update_mode": "match_exactly"},
        "admin": {},
        "project": {"name": project_name},
    }
    packed = zlib.compress(json.dumps(settings, separators=(",", ":")).encode("utf-8"))
    return base64.b64encode(packed).decode("ascii")


def decode_collect_settings(payload: str) -> dict:
    return json.loads(zlib.decompress(base64.b64decode(payload)))


def draw_qr_png(payload: str, *, scale: int = 6) -> bytes:
    """A QR code as PNG (segno), not remembered: for payloads that hold a secret (two-factor
    login's key, api/services/two_factor.py)."""
    buffer = io.BytesIO()
    segno.make(payload, error="l", micro=False).save(buffer, kind="png", scale=scale, border=4)
    return buffer.getvalue()


@functools.lru_cache(maxsize=256)  # a code takes tens of ms to draw; the same one is asked again
def qr_png(payload: str, *, scale: int = 6) -> bytes:
    return draw_qr_png(payload, scale=scale)
