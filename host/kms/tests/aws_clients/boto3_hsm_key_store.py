"""An HSM custom key store through its whole life with boto3: create on a registered HSM (a
PKCS#11 token), connect, a key inside it, Encrypt/Decrypt/GenerateDataKey, disconnect (its keys
refused and Unavailable), reconnect, and AWS's errors on the way. Run by
host/kms/tests/http_api.rs with KMS_ENDPOINT, HSM_CLUSTER_ID (registered by the test), HSM_PIN and
HSM_ANCHOR (the trust anchor certificate's file); prints the key's id for the test to inspect
the token."""

import os
import time

import boto3
from botocore.config import Config

kms = boto3.client("kms", endpoint_url=os.environ["KMS_ENDPOINT"], region_name="us-east-1",
                   config=Config(retries={"max_attempts": 1}))
cluster = os.environ["HSM_CLUSTER_ID"]
pin = os.environ["HSM_PIN"]
anchor = open(os.environ["HSM_ANCHOR"]).read()


def fails(code, op, **kwargs):
    try:
        getattr(kms, op)(**kwargs)
    except kms.exceptions.ClientError as e:
        got = e.response["Error"]["Code"]
        assert got == code, f"{op}: expected {code}, got {got}: {e}"
        return
    raise AssertionError(f"{op} succeeded; expected {code}")


def state(store):
    stores = kms.describe_custom_key_stores(CustomKeyStoreId=store)["CustomKeyStores"]
    assert len(stores) == 1, stores
    return stores[0]


def connected(store):
    kms.connect_custom_key_store(CustomKeyStoreId=store)
    deadline = time.time() + 10
    while state(store)["ConnectionState"] != "CONNECTED":
        assert state(store)["ConnectionState"] in ("CONNECTING", "CONNECTED"), state(store)
        assert time.time() < deadline, state(store)
        time.sleep(0.1)


fails("CloudHsmClusterNotFoundException", "create_custom_key_store",
      CustomKeyStoreName="nowhere", CloudHsmClusterId="cluster-234567abcdefg",
      TrustAnchorCertificate=anchor, KeyStorePassword=pin)
fails("IncorrectTrustAnchorException", "create_custom_key_store",
      CustomKeyStoreName="wrong anchor", CloudHsmClusterId=cluster,
      TrustAnchorCertificate=anchor.replace("MII", "MIJ"), KeyStorePassword=pin)
store = kms.create_custom_key_store(
    CustomKeyStoreName="payments-hsm", CloudHsmClusterId=cluster,
    TrustAnchorCertificate=anchor, KeyStorePassword=pin)["CustomKeyStoreId"]
entry = state(store)
assert entry["ConnectionState"] == "DISCONNECTED", entry
assert entry["CustomKeyStoreType"] == "AWS_CLOUDHSM" and entry["CloudHsmClusterId"] == cluster
assert entry["CustomKeyStoreName"] == "payments-hsm" and "CreationDate" in entry, entry
fails("CustomKeyStoreNameInUseException", "create_custom_key_store",
      CustomKeyStoreName="payments-hsm", CloudHsmClusterId=cluster,
      TrustAnchorCertificate=anchor, KeyStorePassword=pin)
fails("CustomKeyStoreInvalidStateException", "create_key",
      CustomKeyStoreId=store, Origin="AWS_CLOUDHSM")

connected(store)
key = kms.create_key(CustomKeyStoreId=store, Origin="AWS_CLOUDHSM",
                     Description="in the HSM")["KeyMetadata"]
assert key["Origin"] == "AWS_CLOUDHSM" and key["CustomKeyStoreId"] == store, key
assert key["CloudHsmClusterId"] == cluster and key["KeyState"] == "Enabled", key
key_id = key["KeyId"]
blob = kms.encrypt(KeyId=key_id, Plaintext=b"card numbers",
                   EncryptionContext={"app": "payments"})["CiphertextBlob"]
opened = kms.decrypt(CiphertextBlob=blob, EncryptionContext={"app": "payments"})
assert opened["Plaintext"] == b"card numbers" and opened["KeyId"].endswith(key_id), opened
fails("InvalidCiphertextException", "decrypt", CiphertextBlob=blob,
      EncryptionContext={"app": "other"})
data_key = kms.generate_data_key(KeyId=key_id, KeySpec="AES_256")
assert kms.decrypt(CiphertextBlob=data_key["CiphertextBlob"])["Plaintext"] == data_key["Plaintext"]
fails("UnsupportedOperationException", "enable_key_rotation", KeyId=key_id)

# Disconnected: the key is refused and shows as Unavailable; the store can be renamed.
kms.disconnect_custom_key_store(CustomKeyStoreId=store)
assert state(store)["ConnectionState"] == "DISCONNECTED"
fails("KMSInvalidStateException", "encrypt", KeyId=key_id, Plaintext=b"x")
fails("KMSInvalidStateException", "decrypt", CiphertextBlob=blob,
      EncryptionContext={"app": "payments"})
assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Unavailable"
kms.update_custom_key_store(CustomKeyStoreId=store, NewCustomKeyStoreName="cards-hsm")
assert state(store)["CustomKeyStoreName"] == "cards-hsm"

# A wrong PIN fails the connection with its code; a FAILED store is disconnected to be fixed.
kms.update_custom_key_store(CustomKeyStoreId=store, KeyStorePassword="not-the-pin")
kms.connect_custom_key_store(CustomKeyStoreId=store)
entry = state(store)
assert entry["ConnectionState"] == "FAILED", entry
assert entry["ConnectionErrorCode"] == "INVALID_CREDENTIALS", entry
fails("CustomKeyStoreInvalidStateException", "connect_custom_key_store", CustomKeyStoreId=store)
kms.disconnect_custom_key_store(CustomKeyStoreId=store)
kms.update_custom_key_store(CustomKeyStoreId=store, KeyStorePassword=pin)
connected(store)
assert kms.decrypt(CiphertextBlob=blob,
                   EncryptionContext={"app": "payments"})["Plaintext"] == b"card numbers"

# A connected store, or one holding keys, is not deleted.
fails("CustomKeyStoreInvalidStateException", "delete_custom_key_store", CustomKeyStoreId=store)
kms.disconnect_custom_key_store(CustomKeyStoreId=store)
fails("CustomKeyStoreHasCMKsException", "delete_custom_key_store", CustomKeyStoreId=store)
fails("CustomKeyStoreNotFoundException", "describe_custom_key_stores",
      CustomKeyStoreId="cks-00000000000000000")
connected(store)

# A store without keys is deleted (on a second registered HSM: one store per cluster).
spare = kms.create_custom_key_store(
    CustomKeyStoreName="spare", CloudHsmClusterId=os.environ["HSM_SPARE_CLUSTER_ID"],
    TrustAnchorCertificate=anchor, KeyStorePassword=pin)["CustomKeyStoreId"]
kms.delete_custom_key_store(CustomKeyStoreId=spare)
fails("CustomKeyStoreNotFoundException", "describe_custom_key_stores", CustomKeyStoreId=spare)
print(f"KEY_ID={key_id}")
print("hsm key store ok")
