"""Test helpers for the access function."""

from __future__ import annotations


class CountingSts:
    """An STS client (moto's), recording the AssumeRole calls made through it and their answers."""

    def __init__(self, client) -> None:
        self.client, self.calls, self.responses = client, [], []

    def assume_role(self, **request):
        self.calls.append(request)
        response = self.client.assume_role(**request)
        self.responses.append(response)
        return response

    def request_for(self, access_key_id: str) -> dict:
        """The AssumeRole request whose credentials carry ``access_key_id``."""
        [request] = [
            call
            for call, response in zip(self.calls, self.responses, strict=True)
            if response["Credentials"]["AccessKeyId"] == access_key_id
        ]
        return request


def api_request(tenant: object) -> dict:
    """What API Gateway's REST proxy integration sends for ``GET /?tenant=<tenant>``."""
    return {
        "resource": "/",
        "path": "/",
        "httpMethod": "GET",
        "queryStringParameters": {"tenant": tenant},
        "multiValueQueryStringParameters": {"tenant": [tenant]},
        "requestContext": {"requestId": "r-1"},
    }
