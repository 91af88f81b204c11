"""Encrypts and decrypts a file with the AWS Encryption SDK's KMS master key provider against
`kms serve` (AWS_ENDPOINT_URL_KMS points botocore at it), with an encryption context; then
checks that decryption fails once the context stored in the message is altered.
Usage: esdk_file.py KEY_ARN INPUT ENCRYPTED DECRYPTED"""

import sys

import aws_encryption_sdk
from aws_encryption_sdk import CommitmentPolicy
from aws_encryption_sdk.exceptions import AWSEncryptionSDKClientError

key_arn, source, encrypted, decrypted = sys.argv[1:5]
client = aws_encryption_sdk.EncryptionSDKClient(
    commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT)
provider = aws_encryption_sdk.StrictAwsKmsMasterKeyProvider(key_ids=[key_arn])
context = {"tenant": "acme", "file": "report"}

with open(source, "rb") as plain, open(encrypted, "wb") as out:
    with client.stream(mode="e", source=plain, key_provider=provider,
                       encryption_context=context) as encryptor:
        for chunk in encryptor:
            out.write(chunk)

with open(encrypted, "rb") as sealed, open(decrypted, "wb") as out:
    with client.stream(mode="d", source=sealed, key_provider=provider) as decryptor:
        for chunk in decryptor:
            out.write(chunk)
        header = decryptor.header
for k, v in context.items():
    assert header.encryption_context[k] == v, header.encryption_context

# Alter the context stored in the message header: the data key no longer decrypts under it.
message = open(encrypted, "rb").read()
assert message.count(b"acme") == 1
altered = message.replace(b"acme", b"acmf")
try:
    client.decrypt(source=altered, key_provider=provider)
except AWSEncryptionSDKClientError as e:
    print(f"altered context refused: {type(e).__name__}")
else:
    raise AssertionError("decryption succeeded with an altered encryption context")
print("esdk: file round trip ok")
