"""Amazon IVS Chat: a room per session, tokens for shoppers, moderation for the brand.

`AwsChat` speaks to IVS Chat through boto3 (tested with botocore's Stubber). No emulator here
serves IVS Chat, so `EmbeddedChat` records the calls for local runs and hands out tokens that
say they are local.
"""
from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta, timezone

from botocore.exceptions import ClientError

from chalicelib.adapters import aws
from chalicelib.domain.ports import ChatToken
from chalicelib.observability import logger

TOKEN_MINUTES = 180  # a session lasts at most three hours of show


def messaging_endpoint(room_arn: str) -> str:
    """The IVS Chat messaging websocket for the room's region (arn:aws:ivschat:<region>:...)."""
    region = room_arn.split(":")[3]
    return f"wss://edge.ivschat.{region}.amazonaws.com"


class AwsChat:
    def __init__(self, client=None) -> None:
        self._client = client

    @property
    def client(self):
        return self._client or aws.client("ivschat")

    def create_room(self, session_id: str, brand_id: str) -> str:
        room = self.client.create_room(
            name=session_id, maximumMessageRatePerSecond=10, maximumMessageLength=500,
            tags={"livedrop:session": session_id, "livedrop:brand": brand_id})
        return room["arn"]

    def delete_room(self, room_arn: str) -> None:
        try:
            self.client.delete_room(identifier=room_arn)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                raise

    def token(self, room_arn: str, shopper_id: str) -> ChatToken:
        answer = self.client.create_chat_token(
            roomIdentifier=room_arn, userId=shopper_id, capabilities=["SEND_MESSAGE"],
            sessionDurationInMinutes=TOKEN_MINUTES)
        return ChatToken(answer["token"], answer["tokenExpirationTime"], answer["sessionExpirationTime"],
                         messaging_endpoint(room_arn))

    def delete_message(self, room_arn: str, message_id: str, reason: str | None) -> None:
        request = {"roomIdentifier": room_arn, "id": message_id}
        if reason:
            request["reason"] = reason
        self.client.delete_message(**request)

    def disconnect_user(self, room_arn: str, user_id: str, reason: str | None) -> None:
        request = {"roomIdentifier": room_arn, "userId": user_id}
        if reason:
            request["reason"] = reason
        self.client.disconnect_user(**request)


class EmbeddedChat(AwsChat):
    """Rooms and tokens that exist only here; every call is logged instead of sent."""

    def create_room(self, session_id: str, brand_id: str) -> str:
        room_id = hashlib.sha256(session_id.encode()).hexdigest()[:12]
        return f"arn:aws:ivschat:us-east-1:000000000000:room/{room_id}"

    def delete_room(self, room_arn: str) -> None:
        logger.info("embedded IVS Chat: delete_room recorded", extra={"room": room_arn})

    def token(self, room_arn: str, shopper_id: str) -> ChatToken:
        now = datetime.now(timezone.utc)
        # No room exists: no endpoint, so that a page hides its chat instead of failing to connect.
        return ChatToken("local-chat-token." + secrets.token_urlsafe(24), now + timedelta(hours=1),
                         now + timedelta(minutes=TOKEN_MINUTES), messaging_endpoint=None)

    def delete_message(self, room_arn: str, message_id: str, reason: str | None) -> None:
        logger.info("embedded IVS Chat: delete_message recorded", extra={"room": room_arn, "messageId": message_id})

    def disconnect_user(self, room_arn: str, user_id: str, reason: str | None) -> None:
        logger.info("embedded IVS Chat: disconnect_user recorded", extra={"room": room_arn, "userId": user_id})
