"""The media relay: WebRTC to the server only, forwarded along ``rooms.media_routes``.

See ``server.media.relay`` for the API and DESIGN.md section 5 for why it is built so.
"""

from server.media.ice import MediaConfig, client_ice_servers, turn_credentials
from server.media.peer import OfferRejected
from server.media.relay import CaseRelay

__all__ = ["CaseRelay", "MediaConfig", "OfferRejected", "client_ice_servers", "turn_credentials"]
