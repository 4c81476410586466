"""The AWS IVS Chat adapter against botocore's Stubber, errors included."""
from datetime import datetime, timezone

import pytest

from chalicelib.adapters.ivs_chat import TOKEN_MINUTES, AwsChat, ChatToken
from tests.stubs import raises_client_error, stubbed

ROOM = "arn:aws:ivschat:us-east-1:123456789012:room/g1H2I3j4k5L6"
LATER = datetime(2026, 11, 23, tzinfo=timezone.utc)


@pytest.fixture
def chat():
    with stubbed("ivschat") as (client, stubber):
        yield AwsChat(client), stubber


def test_room_per_session(chat):
    adapter, stubber = chat
    stubber.add_response("create_room", {"arn": ROOM, "id": "g1H2I3j4k5L6"},
                         {"name": "ses_1", "maximumMessageRatePerSecond": 10, "maximumMessageLength": 500,
                          "tags": {"livedrop:session": "ses_1", "livedrop:brand": "brd_1"}})
    stubber.add_response("delete_room", {}, {"identifier": ROOM})
    stubber.add_client_error("delete_room", "ResourceNotFoundException", http_status_code=404,
                             expected_params={"identifier": ROOM})
    assert adapter.create_room("ses_1", "brd_1") == ROOM
    adapter.delete_room(ROOM)
    adapter.delete_room(ROOM)  # already gone: fine


def test_shopper_token_can_send_messages(chat):
    adapter, stubber = chat
    request = {"roomIdentifier": ROOM, "userId": "shp_1", "capabilities": ["SEND_MESSAGE"],
               "sessionDurationInMinutes": TOKEN_MINUTES}
    stubber.add_response("create_chat_token", {"token": "tok", "tokenExpirationTime": LATER,
                                               "sessionExpirationTime": LATER}, request)
    stubber.add_client_error("create_chat_token", "ResourceNotFoundException", http_status_code=404,
                             expected_params=request)
    assert adapter.token(ROOM, "shp_1") == ChatToken("tok", LATER, LATER, "wss://edge.ivschat.us-east-1.amazonaws.com")
    with raises_client_error("ResourceNotFoundException"):  # a room that is gone: not a token
        adapter.token(ROOM, "shp_1")


def test_moderation(chat):
    adapter, stubber = chat
    stubber.add_response("delete_message", {"id": "ABCDEFabcdef"},
                         {"roomIdentifier": ROOM, "id": "ABCDEFabcdef", "reason": "spam"})
    stubber.add_response("disconnect_user", {}, {"roomIdentifier": ROOM, "userId": "shp_1"})
    stubber.add_response("disconnect_user", {}, {"roomIdentifier": ROOM, "userId": "shp_2", "reason": "abuse"})
    stubber.add_client_error("disconnect_user", "ThrottlingException", http_status_code=429,
                             expected_params={"roomIdentifier": ROOM, "userId": "shp_1"})
    adapter.delete_message(ROOM, "ABCDEFabcdef", "spam")
    adapter.disconnect_user(ROOM, "shp_1", None)
    adapter.disconnect_user(ROOM, "shp_2", "abuse")
    with raises_client_error("ThrottlingException"):
        adapter.disconnect_user(ROOM, "shp_1", None)


def drive_every_chat_call():
    with stubbed("ivschat") as (client, stubber):
        adapter = AwsChat(client)
        stubber.add_response("create_room", {"arn": ROOM})
        stubber.add_response("create_chat_token", {"token": "t", "tokenExpirationTime": LATER,
                                                   "sessionExpirationTime": LATER})
        stubber.add_response("delete_message", {"id": "ABCDEFabcdef"})
        stubber.add_response("disconnect_user", {})
        stubber.add_response("delete_room", {})
        adapter.create_room("ses_1", "brd_1")
        adapter.token(ROOM, "shp_1")
        adapter.delete_message(ROOM, "ABCDEFabcdef", None)
        adapter.disconnect_user(ROOM, "u", None)
        adapter.delete_room(ROOM)


def test_drive_every_chat_call_covers_the_adapter():
    public = {name for name in vars(AwsChat) if not name.startswith("_") and callable(vars(AwsChat)[name])}
    assert public == {"create_room", "delete_room", "token", "delete_message", "disconnect_user"}
    drive_every_chat_call()


CALLS = [  # (operation, the request it must send, the adapter call that sends it)
    ("create_room", {"name": "ses_1", "maximumMessageRatePerSecond": 10, "maximumMessageLength": 500,
                     "tags": {"livedrop:session": "ses_1", "livedrop:brand": "brd_1"}},
     lambda a: a.create_room("ses_1", "brd_1")),
    ("delete_room", {"identifier": ROOM}, lambda a: a.delete_room(ROOM)),
    ("create_chat_token", {"roomIdentifier": ROOM, "userId": "shp_1", "capabilities": ["SEND_MESSAGE"],
                           "sessionDurationInMinutes": TOKEN_MINUTES}, lambda a: a.token(ROOM, "shp_1")),
    ("delete_message", {"roomIdentifier": ROOM, "id": "ABCDEFabcdef"},
     lambda a: a.delete_message(ROOM, "ABCDEFabcdef", None)),
    ("disconnect_user", {"roomIdentifier": ROOM, "userId": "shp_1"}, lambda a: a.disconnect_user(ROOM, "shp_1", None)),
]


@pytest.mark.parametrize("operation, request_sent, call", CALLS, ids=[case[0] for case in CALLS])
def test_access_denied_reaches_the_caller(chat, operation, request_sent, call):
    adapter, stubber = chat
    stubber.add_client_error(operation, "AccessDeniedException", http_status_code=403, expected_params=request_sent)
    with raises_client_error("AccessDeniedException"):
        call(adapter)
