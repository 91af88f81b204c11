"""boto3 against `kms serve --tls-cert --tls-key`, run by host/kms/tests/http_api.rs with
KMS_ENDPOINT (https://localhost:PORT) and the shared-credentials file of `kms init`.

Usage: boto3_tls.py trusting CA_PEM  -- verifies the server against CA_PEM, then creates a key
                                        and round-trips Encrypt and Decrypt
       boto3_tls.py untrusting       -- verifies against the system's CAs, which never issued
                                        the test certificate: the first call must fail
                                        certificate verification"""

import os
import sys

import boto3
from botocore.config import Config
from botocore.exceptions import SSLError

ENDPOINT = os.environ["KMS_ENDPOINT"]
assert ENDPOINT.startswith("https://"), ENDPOINT
mode = sys.argv[1]
verify = sys.argv[2] if mode == "trusting" else True
kms = boto3.client("kms", endpoint_url=ENDPOINT, region_name="us-east-1", verify=verify,
                   config=Config(retries={"max_attempts": 1}))

if mode == "trusting":
    key = kms.create_key(Description="over tls")["KeyMetadata"]["KeyId"]
    context = {"transport": "tls"}
    blob = kms.encrypt(KeyId=key, Plaintext=b"sealed in transit",
                       EncryptionContext=context)["CiphertextBlob"]
    opened = kms.decrypt(CiphertextBlob=blob, EncryptionContext=context)
    assert opened["Plaintext"] == b"sealed in transit", opened
    assert opened["KeyId"].endswith(key), opened
    print("tls round trip ok")
elif mode == "untrusting":
    try:
        kms.list_keys()
    except SSLError as e:
        assert "CERTIFICATE_VERIFY_FAILED" in str(e), e
        print("certificate refused:", e)
    else:
        sys.exit("boto3 accepted a certificate from a CA it does not trust")
else:
    sys.exit(f"unknown mode {mode}")
