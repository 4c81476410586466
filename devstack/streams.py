"""A DynamoDB stream reader for local runs: `chalice local` runs no stream handlers, so `make run`
(and the tests) read the tables' streams from DynamoDB Local and hand the records to the same code
the deployed stream handlers (app.py) call."""
from __future__ import annotations

import boto3


class StreamReader:
    def __init__(self, table_name: str) -> None:
        self.streams = boto3.client("dynamodbstreams")
        self.arn = boto3.client("dynamodb").describe_table(TableName=table_name)["Table"]["LatestStreamArn"]
        self.last_sequence: dict[str, str] = {}
        self.read()  # everything so far is skipped: only what happens from now on

    def read(self) -> list[tuple[dict | None, dict | None]]:
        """New records since the last read, as (old image, new image) pairs."""
        return [(old, new) for _sequence, old, new in self.read_records()]

    def read_records(self) -> list[tuple[str, dict | None, dict | None]]:
        """New records since the last read, as (sequence number, old image, new image), as the
        deployed handlers pass them on. Fresh iterators on every read (after the last sequence
        number seen per shard): shards come and go."""
        records: list[tuple[str, dict | None, dict | None]] = []
        for shard in self.streams.describe_stream(StreamArn=self.arn)["StreamDescription"]["Shards"]:
            shard_id = shard["ShardId"]
            position = ({"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": self.last_sequence[shard_id]}
                        if shard_id in self.last_sequence else {"ShardIteratorType": "TRIM_HORIZON"})
            iterator = self.streams.get_shard_iterator(StreamArn=self.arn, ShardId=shard_id, **position)["ShardIterator"]
            while iterator:
                answer = self.streams.get_records(ShardIterator=iterator, Limit=1000)
                if not answer["Records"]:
                    break
                for record in answer["Records"]:
                    records.append((record["dynamodb"]["SequenceNumber"], record["dynamodb"].get("OldImage"),
                                    record["dynamodb"].get("NewImage")))
                    self.last_sequence[shard_id] = record["dynamodb"]["SequenceNumber"]
                iterator = answer.get("NextShardIterator")
        return records
