"""Amazon IVS: channels, stream keys, timed metadata, streams.

`AwsIvs` speaks to IVS through boto3 (its calls are tested with botocore's Stubber, which checks
every request against the service model). `EmbeddedIvs`, for local runs, creates real channels on
moto's IVS and records what moto can not do (stream keys, timed metadata, stopping a stream)
instead of sending it: the metadata timeline stays visible in `/live` and in the logs. With the
URL of `make run`'s broadcaster (devstack/hls.py), channels play from it, timed metadata also goes
to it (a player receives it as from IVS) and it counts the viewers.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import urllib.error
import urllib.request
from collections import deque
from dataclasses import replace

from botocore.exceptions import ClientError

from chalicelib.adapters import aws
from chalicelib.domain.ports import Delivery
from chalicelib.domain.records import Channel
from chalicelib.observability import logger


def _error_code(error: ClientError) -> str:
    return error.response.get("Error", {}).get("Code", "")


class AwsIvs:
    def __init__(self, client=None) -> None:
        self._client = client

    @property
    def client(self):
        return self._client or aws.client("ivs")

    def create(self, session_id: str, brand_id: str, channel_type: str, latency_mode: str,
               recording_configuration_arn: str | None = None) -> Channel:
        request = dict(name=session_id, type=channel_type, latencyMode=latency_mode,
                       tags={"livedrop:session": session_id, "livedrop:brand": brand_id})
        if recording_configuration_arn:
            request["recordingConfigurationArn"] = recording_configuration_arn
        channel = self.client.create_channel(**request)["channel"]
        # The stream key that comes back is not kept: the owner fetches it from IVS when needed.
        return Channel(arn=channel["arn"], playback_url=channel["playbackUrl"],
                       ingest_endpoint=channel["ingestEndpoint"])

    def delete(self, channel_arn: str) -> None:
        try:
            self.client.delete_channel(arn=channel_arn)
        except ClientError as error:
            if _error_code(error) != "ResourceNotFoundException":  # already gone: the goal is met
                raise

    def stream_key(self, channel_arn: str) -> str:
        keys = self.client.list_stream_keys(channelArn=channel_arn, maxResults=1)["streamKeys"]
        return self.client.get_stream_key(arn=keys[0]["arn"])["streamKey"]["value"]

    def stop_stream(self, channel_arn: str) -> bool:
        """Cut the broadcast. False if nothing was broadcasting."""
        try:
            self.client.stop_stream(channelArn=channel_arn)
            return True
        except ClientError as error:
            if _error_code(error) in ("ChannelNotBroadcasting", "StreamUnavailable", "ResourceNotFoundException"):
                return False  # nothing is broadcasting (or the channel is gone): the goal is met
            raise

    def put_metadata(self, channel_arn: str, payload: str) -> Delivery:
        try:
            self.client.put_metadata(channelArn=channel_arn, metadata=payload)
            return Delivery(True)
        except ClientError as error:
            code = _error_code(error)
            if code == "ChannelNotBroadcasting":
                return Delivery(False, "channel_not_broadcasting")
            if code == "ThrottlingException":
                return Delivery(False, "throttled")
            raise

    def viewer_count(self, channel_arn: str) -> int | None:
        try:
            return int(self.client.get_stream(channelArn=channel_arn)["stream"].get("viewerCount", 0))
        except ClientError as error:
            if _error_code(error) == "ChannelNotBroadcasting":
                return None
            raise


BROADCASTER_TIMEOUT_SECONDS = 2


def channel_id_of(channel_arn: str) -> str:
    """The channel's id, the last part of its ARN (also the embedded broadcaster's channel id)."""
    return channel_arn.rsplit("/", 1)[-1]


class EmbeddedIvs(AwsIvs):
    """Channels on moto; the calls moto lacks are recorded, not sent (and, with `hls_url`, played
    by the local broadcaster)."""

    def __init__(self, secret: str, client=None, hls_url: str | None = None) -> None:
        super().__init__(client)
        self._secret = secret
        self._hls_url = hls_url.rstrip("/") if hls_url else None
        self.recorded: deque[tuple[str, str]] = deque(maxlen=1000)  # (channel, payload), newest last

    def create(self, session_id: str, brand_id: str, channel_type: str, latency_mode: str,
               recording_configuration_arn: str | None = None) -> Channel:
        channel = super().create(session_id, brand_id, channel_type, latency_mode, recording_configuration_arn)
        if self._hls_url is None:
            return channel
        return replace(channel, playback_url=f"{self._hls_url}/channels/{channel_id_of(channel.arn)}/master.m3u8")

    def stream_key(self, channel_arn: str) -> str:
        # Derived, not stored: the same key in every process of the local stack, and no secret at rest.
        digest = hmac.new(self._secret.encode(), channel_arn.encode(), hashlib.sha256).hexdigest()
        return f"sk_local_{digest[:40]}"

    def stop_stream(self, channel_arn: str) -> bool:
        logger.info("embedded IVS: stop_stream recorded", extra={"channel": channel_arn})
        return False

    def put_metadata(self, channel_arn: str, payload: str) -> Delivery:
        self.recorded.append((channel_arn, payload))
        logger.info("embedded IVS: timed metadata recorded", extra={"channel": channel_arn,
                                                                    "metadata": json.loads(payload)})
        if self._hls_url is None:
            return Delivery(True, "recorded_locally")
        request = urllib.request.Request(f"{self._hls_url}/channels/{channel_id_of(channel_arn)}/metadata",
                                         data=payload.encode(), method="POST",
                                         headers={"Content-Type": "text/plain; charset=utf-8",
                                                  # the broadcaster takes metadata from us only
                                                  "Authorization": f"Bearer {self._secret}"})
        try:
            with urllib.request.urlopen(request, timeout=BROADCASTER_TIMEOUT_SECONDS):
                return Delivery(True)  # 202: in the stream's next segment
        except urllib.error.HTTPError as error:
            if error.code != 409:  # anything but "not on air" is a bug, as IVS's ValidationException is
                raise
        except OSError:
            pass  # the broadcaster is not running: nothing is on air
        return Delivery(False, "channel_not_broadcasting")

    def viewer_count(self, channel_arn: str) -> int | None:
        if self._hls_url is None:
            return None
        try:
            with urllib.request.urlopen(f"{self._hls_url}/channels/{channel_id_of(channel_arn)}/viewers",
                                        timeout=BROADCASTER_TIMEOUT_SECONDS) as response:
                return int(json.load(response)["viewers"])
        except OSError:  # 404 (not on air) included: HTTPError is an OSError
            return None
