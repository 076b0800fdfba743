"""Wire protocol v1: codes, client frames, server frames and the codec, re-exported as one API."""

from server.protocol.client_frames import (
    Claim,
    ClientFrame,
    Close,
    Followup,
    Hello,
    Pause,
    Release,
    Resume,
    decode_client,
)
from server.protocol.codec import decode_server, encode
from server.protocol.codes import (
    ACTIONS,
    PROTOCOL_VERSION,
    SUBPROTOCOL_JSON,
    SUBPROTOCOL_MSGPACK,
    SUBPROTOCOLS,
    CloseCode,
    Codec,
    ErrorCode,
    Frame,
    ProtocolError,
    error_body,
    should_reconnect,
)
from server.protocol.server_frames import (
    action_result,
    assigned,
    claim_result,
    error,
    gap,
    lead,
    lead_taken,
    paused,
    resumed,
    revoked,
    warning,
    welcome,
)

__all__ = [
    "ACTIONS", "PROTOCOL_VERSION", "SUBPROTOCOLS", "SUBPROTOCOL_JSON", "SUBPROTOCOL_MSGPACK",
    "Claim", "ClientFrame", "Close", "CloseCode", "Codec", "ErrorCode", "Followup", "Frame",
    "Hello", "Pause", "ProtocolError", "Release", "Resume", "action_result", "assigned",
    "claim_result", "decode_client", "decode_server", "encode", "error", "error_body", "gap",
    "lead", "lead_taken", "paused", "resumed", "revoked", "should_reconnect", "warning",
    "welcome",
]
