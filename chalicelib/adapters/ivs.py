"""Amazon IVS channels through boto3 (moto's IVS on the embedded stack, IVS itself on AWS)."""
from __future__ import annotations

from functools import lru_cache

import boto3

from chalicelib.domain.records import Channel


@lru_cache(maxsize=1)
def ivs_client():
    # Made once per container, on first use: the endpoint comes from AWS_ENDPOINT_URL[_IVS].
    return boto3.client("ivs")


class IvsChannels:
    def __init__(self, channel_type: str, latency_mode: str, client=None) -> None:
        self.channel_type = channel_type
        self.latency_mode = latency_mode
        self._client = client

    @property
    def client(self):
        return self._client or ivs_client()

    def create(self, session_id: str, brand_id: str) -> Channel:
        response = self.client.create_channel(
            name=session_id, type=self.channel_type, latencyMode=self.latency_mode,
            tags={"livedrop:session": session_id, "livedrop:brand": brand_id},
        )
        channel = response["channel"]
        return Channel(
            arn=channel["arn"], playback_url=channel["playbackUrl"],
            ingest_endpoint=channel["ingestEndpoint"], stream_key=response["streamKey"]["value"],
        )

    def delete(self, channel_arn: str) -> None:
        self.client.delete_channel(arn=channel_arn)
