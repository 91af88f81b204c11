"""Drives every KMS operation `kms serve` implements through boto3, checking responses and the
error codes of the failures. Run by host/kms/tests/http_api.rs with KMS_ENDPOINT set and the
shared-credentials file of `kms init`; OUTSIDER_* name a principal with no permissions."""

import base64
import hashlib
import os
import sys

import boto3
from botocore.config import Config
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, mldsa, mlkem, padding

ENDPOINT = os.environ["KMS_ENDPOINT"]
REGION = "us-east-1"
kms = boto3.client("kms", endpoint_url=ENDPOINT, region_name=REGION,
                   config=Config(retries={"max_attempts": 1}))
# boto3 checks some constraints itself; this client sends whatever it is given, so that the
# server's own validation answers are what is tested.
unchecked = boto3.client("kms", endpoint_url=ENDPOINT, region_name=REGION,
                         config=Config(retries={"max_attempts": 1}, parameter_validation=False))
outsider = boto3.client(
    "kms", endpoint_url=ENDPOINT, region_name=REGION,
    aws_access_key_id=os.environ["OUTSIDER_KEY_ID"],
    aws_secret_access_key=os.environ["OUTSIDER_SECRET"],
    config=Config(retries={"max_attempts": 1}))

called = set()


def call(client, op, **kwargs):
    called.add(op)
    return getattr(client, op)(**kwargs)


def fails(code, client, op, **kwargs):
    called.add(op)
    try:
        getattr(client, op)(**kwargs)
    except client.exceptions.ClientError as e:
        got = e.response["Error"]["Code"]
        assert got == code, f"{op}: expected {code}, got {got}: {e}"
        assert e.response["ResponseMetadata"]["RequestId"], op
        return e
    raise AssertionError(f"{op} succeeded; expected {code}")


# Keys: create, describe, list, describe errors.
sym = call(kms, "create_key", Description="boto3 symmetric",
           Tags=[{"TagKey": "team", "TagValue": "blue"}])["KeyMetadata"]
assert sym["KeySpec"] == "SYMMETRIC_DEFAULT" and sym["Enabled"], sym
key = sym["KeyId"]
assert call(kms, "describe_key", KeyId=sym["Arn"])["KeyMetadata"]["Description"] == "boto3 symmetric"
fails("NotFoundException", kms, "describe_key", KeyId="11111111-2222-3333-4444-555555555555")
keys = [k["KeyId"] for page in kms.get_paginator("list_keys").paginate(PaginationConfig={"PageSize": 1})
        for k in page["Keys"]]
called.add("list_keys")
assert key in keys, keys
call(kms, "update_key_description", KeyId=key, Description="renamed")
assert kms.describe_key(KeyId=key)["KeyMetadata"]["Description"] == "renamed"

# Tags.
call(kms, "tag_resource", KeyId=key, Tags=[{"TagKey": "env", "TagValue": "test"}])
tags = {t["TagKey"]: t["TagValue"] for t in call(kms, "list_resource_tags", KeyId=key)["Tags"]}
assert tags == {"team": "blue", "env": "test"}, tags
call(kms, "untag_resource", KeyId=key, TagKeys=["team"])
assert [t["TagKey"] for t in kms.list_resource_tags(KeyId=key)["Tags"]] == ["env"]

# Aliases.
call(kms, "create_alias", AliasName="alias/boto3", TargetKeyId=key)
fails("AlreadyExistsException", kms, "create_alias", AliasName="alias/boto3", TargetKeyId=key)
other = kms.create_key()["KeyMetadata"]["KeyId"]
call(kms, "update_alias", AliasName="alias/boto3", TargetKeyId=other)
aliases = {a["AliasName"]: a.get("TargetKeyId") for a in call(kms, "list_aliases")["Aliases"]}
assert aliases["alias/boto3"] == other, aliases
call(kms, "update_alias", AliasName="alias/boto3", TargetKeyId=key)

# Encryption with context, and its failures.
context = {"tenant": "acme", "purpose": "boto3"}
ct = call(kms, "encrypt", KeyId="alias/boto3", Plaintext=b"hello boto3",
          EncryptionContext=context)["CiphertextBlob"]
out = call(kms, "decrypt", CiphertextBlob=ct, EncryptionContext=context)
assert out["Plaintext"] == b"hello boto3" and out["KeyId"] == sym["Arn"], out
fails("InvalidCiphertextException", kms, "decrypt", CiphertextBlob=ct,
      EncryptionContext={"tenant": "evil", "purpose": "boto3"})
fails("IncorrectKeyException", kms, "decrypt", CiphertextBlob=ct, EncryptionContext=context,
      KeyId=other)
re = call(kms, "re_encrypt", CiphertextBlob=ct, SourceEncryptionContext=context,
          DestinationKeyId=other)
assert kms.decrypt(CiphertextBlob=re["CiphertextBlob"])["Plaintext"] == b"hello boto3"
dk = call(kms, "generate_data_key", KeyId=key, KeySpec="AES_256", EncryptionContext=context)
assert len(dk["Plaintext"]) == 32
assert kms.decrypt(CiphertextBlob=dk["CiphertextBlob"], EncryptionContext=context)["Plaintext"] == dk["Plaintext"]
dk2 = call(kms, "generate_data_key_without_plaintext", KeyId=key, NumberOfBytes=16)
assert "Plaintext" not in dk2 and dk2["CiphertextBlob"]
assert len(call(kms, "generate_random", NumberOfBytes=64)["Plaintext"]) == 64
fails("ValidationException", kms, "generate_random", NumberOfBytes=2000)

# DryRun: allowed, so DryRunOperationException, and nothing done.
fails("DryRunOperationException", kms, "decrypt", CiphertextBlob=ct, EncryptionContext=context,
      DryRun=True)
fails("DryRunOperationException", kms, "encrypt", KeyId=key, Plaintext=b"x", DryRun=True)
fails("DryRunOperationException", kms, "generate_data_key", KeyId=key, KeySpec="AES_256",
      DryRun=True)

# Enable, disable.
call(kms, "disable_key", KeyId=other)
fails("DisabledException", kms, "encrypt", KeyId=other, Plaintext=b"x")
call(kms, "enable_key", KeyId=other)

# Rotation.
call(kms, "enable_key_rotation", KeyId=key, RotationPeriodInDays=180)
status = call(kms, "get_key_rotation_status", KeyId=key)
assert status["KeyRotationEnabled"] and status["RotationPeriodInDays"] == 180, status
call(kms, "rotate_key_on_demand", KeyId=key)
rotations = call(kms, "list_key_rotations", KeyId=key)["Rotations"]
assert len(rotations) == 1 and rotations[0]["RotationType"] == "ON_DEMAND", rotations
assert kms.decrypt(CiphertextBlob=ct, EncryptionContext=context)["Plaintext"] == b"hello boto3"
call(kms, "disable_key_rotation", KeyId=key)

# Key policies.
policy = call(kms, "get_key_policy", KeyId=key, PolicyName="default")["Policy"]
assert "arn:aws:iam::111122223333:root" in policy
assert call(kms, "list_key_policies", KeyId=key)["PolicyNames"] == ["default"]
call(kms, "put_key_policy", KeyId=key, PolicyName="default", Policy=policy)
fails("MalformedPolicyDocumentException", kms, "put_key_policy", KeyId=key,
      PolicyName="default", Policy="{}")

# Asymmetric keys.
rsa = kms.create_key(KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]["KeyId"]
pub = serialization.load_der_public_key(call(kms, "get_public_key", KeyId=rsa)["PublicKey"])
oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
assert kms.decrypt(KeyId=rsa, CiphertextBlob=pub.encrypt(b"to rsa", oaep),
                   EncryptionAlgorithm="RSAES_OAEP_SHA_256")["Plaintext"] == b"to rsa"
signer = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
sig = call(kms, "sign", KeyId=signer, Message=b"msg", SigningAlgorithm="ECDSA_SHA_256")["Signature"]
fails("DryRunOperationException", kms, "sign", KeyId=signer, Message=b"msg",
      SigningAlgorithm="ECDSA_SHA_256", DryRun=True)
ec_pub = serialization.load_der_public_key(kms.get_public_key(KeyId=signer)["PublicKey"])
ec_pub.verify(sig, b"msg", ec.ECDSA(hashes.SHA256()))
assert call(kms, "verify", KeyId=signer, Message=b"msg", Signature=sig,
            SigningAlgorithm="ECDSA_SHA_256")["SignatureValid"]
fails("KMSInvalidSignatureException", kms, "verify", KeyId=signer, Message=b"other",
      Signature=sig, SigningAlgorithm="ECDSA_SHA_256")
fails("InvalidKeyUsageException", kms, "encrypt", KeyId=signer, Plaintext=b"x")
mac_key = kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["KeyId"]
mac = call(kms, "generate_mac", KeyId=mac_key, Message=b"m", MacAlgorithm="HMAC_SHA_256")["Mac"]
assert call(kms, "verify_mac", KeyId=mac_key, Message=b"m", Mac=mac,
            MacAlgorithm="HMAC_SHA_256")["MacValid"]
fails("KMSInvalidMacException", kms, "verify_mac", KeyId=mac_key, Message=b"n", Mac=mac,
      MacAlgorithm="HMAC_SHA_256")
agree = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="KEY_AGREEMENT")["KeyMetadata"]["KeyId"]
peer = ec.generate_private_key(ec.SECP256R1())
peer_der = peer.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)
shared = call(kms, "derive_shared_secret", KeyId=agree, KeyAgreementAlgorithm="ECDH",
              PublicKey=peer_der)["SharedSecret"]
their_pub = serialization.load_der_public_key(kms.get_public_key(KeyId=agree)["PublicKey"])
assert shared == peer.exchange(ec.ECDH(), their_pub)
pair = call(kms, "generate_data_key_pair", KeyId=key, KeyPairSpec="ECC_NIST_P256")
serialization.load_der_private_key(pair["PrivateKeyPlaintext"], password=None)
pair2 = call(kms, "generate_data_key_pair_without_plaintext", KeyId=key, KeyPairSpec="RSA_2048")
assert "PrivateKeyPlaintext" not in pair2 and pair2["PublicKey"]

# Ed25519: pure Ed25519 over a RAW message, Ed25519ph over a SHA-512 DIGEST; Python's
# cryptography checks the pure signature independently.
ed = kms.create_key(KeySpec="ECC_NIST_EDWARDS25519", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
assert ed["SigningAlgorithms"] == ["ED25519_SHA_512", "ED25519_PH_SHA_512"], ed
ed_pub = serialization.load_der_public_key(kms.get_public_key(KeyId=ed["KeyId"])["PublicKey"])
assert isinstance(ed_pub, ed25519.Ed25519PublicKey), ed_pub
ed_sig = kms.sign(KeyId=ed["KeyId"], Message=b"release 7", MessageType="RAW",
                  SigningAlgorithm="ED25519_SHA_512")["Signature"]
ed_pub.verify(ed_sig, b"release 7")
digest = hashlib.sha512(b"release 7").digest()
ph_sig = kms.sign(KeyId=ed["KeyId"], Message=digest, MessageType="DIGEST",
                  SigningAlgorithm="ED25519_PH_SHA_512")["Signature"]
assert kms.verify(KeyId=ed["KeyId"], Message=digest, MessageType="DIGEST", Signature=ph_sig,
                  SigningAlgorithm="ED25519_PH_SHA_512")["SignatureValid"]
fails("ValidationException", kms, "sign", KeyId=ed["KeyId"], Message=digest,
      MessageType="DIGEST", SigningAlgorithm="ED25519_SHA_512")
ed_pair = kms.generate_data_key_pair(KeyId=key, KeyPairSpec="ECC_NIST_EDWARDS25519")
assert isinstance(serialization.load_der_private_key(ed_pair["PrivateKeyPlaintext"], password=None),
                  ed25519.Ed25519PrivateKey)

# ML-DSA signatures, verified independently by Python's cryptography.
dsa = kms.create_key(KeySpec="ML_DSA_65", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
dsa_pub = serialization.load_der_public_key(kms.get_public_key(KeyId=dsa)["PublicKey"])
assert isinstance(dsa_pub, mldsa.MLDSA65PublicKey), dsa_pub
dsa_sig = kms.sign(KeyId=dsa, Message=b"post-quantum", SigningAlgorithm="ML_DSA_SHAKE_256")["Signature"]
dsa_pub.verify(dsa_sig, b"post-quantum")

# ML-KEM: Python's cryptography encapsulates to our public key and KMS decapsulates; KMS
# encapsulates and decapsulates; a ciphertext of the wrong length is refused.
kem = kms.create_key(KeySpec="ML_KEM_768", KeyUsage="ENCAPSULATE_DECAPSULATE")["KeyMetadata"]
assert kem["EncapsulationAlgorithms"] == ["ML_KEM"] and "SigningAlgorithms" not in kem, kem
kem_public = kms.get_public_key(KeyId=kem["KeyId"])
assert kem_public["KeyUsage"] == "ENCAPSULATE_DECAPSULATE", kem_public
assert kem_public["EncapsulationAlgorithms"] == ["ML_KEM"], kem_public
kem_pub = serialization.load_der_public_key(kem_public["PublicKey"])
assert isinstance(kem_pub, mlkem.MLKEM768PublicKey), kem_pub
secret, kem_ct = kem_pub.encapsulate()
got = call(kms, "decapsulate", KeyId=kem["KeyId"], SharedSecretCiphertextBlob=kem_ct,
           EncapsulationAlgorithm="ML_KEM")
assert got["SharedSecret"] == secret and got["EncapsulationAlgorithm"] == "ML_KEM", got
sent = call(kms, "encapsulate", KeyId=kem["KeyId"], EncapsulationAlgorithm="ML_KEM")
assert len(sent["SharedSecretCiphertextBlob"]) == 1088 and len(sent["SharedSecret"]) == 32, sent
assert kms.decapsulate(KeyId=kem["KeyId"], SharedSecretCiphertextBlob=sent["SharedSecretCiphertextBlob"],
                       EncapsulationAlgorithm="ML_KEM")["SharedSecret"] == sent["SharedSecret"]
fails("InvalidCiphertextException", kms, "decapsulate", KeyId=kem["KeyId"],
      SharedSecretCiphertextBlob=kem_ct[:-1], EncapsulationAlgorithm="ML_KEM")
fails("DryRunOperationException", kms, "encapsulate", KeyId=kem["KeyId"],
      EncapsulationAlgorithm="ML_KEM", DryRun=True)
fails("InvalidKeyUsageException", kms, "encapsulate", KeyId=key, EncapsulationAlgorithm="ML_KEM")
kem_pair = kms.generate_data_key_pair(KeyId=key, KeyPairSpec="ML_KEM_768")
assert isinstance(serialization.load_der_private_key(kem_pair["PrivateKeyPlaintext"], password=None),
                  mlkem.MLKEM768PrivateKey)

# Grants, and a principal with no permissions.
fails("AccessDeniedException", outsider, "encrypt", KeyId=key, Plaintext=b"x")
outsider_arn = os.environ["OUTSIDER_ARN"]
grant = call(kms, "create_grant", KeyId=key, GranteePrincipal=outsider_arn,
             RetiringPrincipal=outsider_arn, Operations=["Encrypt", "Decrypt"],
             Constraints={"EncryptionContextSubset": {"tenant": "acme"}}, Name="boto3")
ct2 = outsider.encrypt(KeyId=key, Plaintext=b"granted", EncryptionContext=context,
                       GrantTokens=[grant["GrantToken"]])["CiphertextBlob"]
fails("AccessDeniedException", outsider, "encrypt", KeyId=key, Plaintext=b"x")
listed = call(kms, "list_grants", KeyId=key)["Grants"]
assert [g["GrantId"] for g in listed] == [grant["GrantId"]], listed
assert listed[0]["Constraints"]["EncryptionContextSubset"] == {"tenant": "acme"}
retirable = call(kms, "list_retirable_grants", RetiringPrincipal=outsider_arn)["Grants"]
assert [g["GrantId"] for g in retirable] == [grant["GrantId"]]
call(outsider, "retire_grant", GrantToken=grant["GrantToken"])
fails("AccessDeniedException", outsider, "decrypt", CiphertextBlob=ct2, EncryptionContext=context)
g2 = kms.create_grant(KeyId=key, GranteePrincipal=outsider_arn, Operations=["Decrypt"])
call(kms, "revoke_grant", KeyId=key, GrantId=g2["GrantId"])
fails("NotFoundException", kms, "revoke_grant", KeyId=key, GrantId=g2["GrantId"])

# Last usage: the last successful cryptographic use, and since when uses are tracked.
used = call(kms, "get_key_last_usage", KeyId=key)
assert used["KeyId"] == key, used
assert used["KeyLastUsage"]["Operation"] in {
    "Encrypt", "Decrypt", "ReEncrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext",
    "GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext"}, used
assert used["KeyLastUsage"]["KmsRequestId"] and used["KeyLastUsage"]["CloudTrailEventId"], used
assert used["TrackingStartDate"] <= used["KeyLastUsage"]["Timestamp"], used
assert used["KeyCreationDate"] <= used["TrackingStartDate"], used
unused = kms.create_key()["KeyMetadata"]["KeyId"]
fresh = kms.get_key_last_usage(KeyId=unused)
assert not fresh.get("KeyLastUsage"), fresh
fails("AccessDeniedException", outsider, "get_key_last_usage", KeyId=key)

# AWS's validation answers: model constraints, empty context pairs, the reserved alias prefix.
e = fails("ValidationException", unchecked, "create_key", KeySpec="AES_999")
assert e.response["Error"]["Message"].startswith(
    "1 validation error detected: Value 'AES_999' at 'keySpec' failed to satisfy constraint: "
    "Member must satisfy enum value set: ["), e
e = fails("ValidationException", unchecked, "create_key", KeySpec="X", KeyUsage="Y")
assert e.response["Error"]["Message"].startswith("2 validation errors detected: "), e
e = fails("ValidationException", unchecked, "generate_random", NumberOfBytes=0)
assert "Member must have value greater than or equal to 1" in e.response["Error"]["Message"], e
e = fails("ValidationException", unchecked, "describe_key", KeyId="")
assert "at 'keyId' failed to satisfy constraint: Member must have length greater than or " \
    "equal to 1" in e.response["Error"]["Message"], e
e = fails("ValidationException", unchecked, "tag_resource", KeyId=key,
          Tags=[{"TagKey": "a" * 129, "TagValue": "v"}])
assert "at 'tags.1.member.tagKey'" in e.response["Error"]["Message"], e
e = fails("ValidationException", unchecked, "encrypt", KeyId=key, Plaintext=b"x",
          GrantTokens=["t"] * 11)
assert "at 'grantTokens' failed to satisfy constraint: Member must have length less than or " \
    "equal to 10" in e.response["Error"]["Message"], e
e = fails("ValidationException", unchecked, "create_alias", AliasName="alias/bad name",
          TargetKeyId=key)
assert "Member must satisfy regular expression pattern" in e.response["Error"]["Message"], e
for op, kwargs in [("create_alias", {"TargetKeyId": key}), ("update_alias", {"TargetKeyId": key}),
                   ("delete_alias", {})]:
    fails("NotAuthorizedException", kms, op, AliasName="alias/aws/s3", **kwargs)
for bad in [{"tenant": ""}, {"": "acme"}]:
    e = fails("ValidationException", kms, "encrypt", KeyId=key, Plaintext=b"x",
              EncryptionContext=bad)
    assert e.response["Error"]["Message"] == "Invalid EncryptionContext", e
    fails("ValidationException", kms, "decrypt", CiphertextBlob=ct, EncryptionContext=bad)
    fails("ValidationException", kms, "generate_data_key", KeyId=key, KeySpec="AES_256",
          EncryptionContext=bad)
    fails("ValidationException", kms, "re_encrypt", CiphertextBlob=ct,
          SourceEncryptionContext=bad, DestinationKeyId=key)
e = fails("SerializationException", unchecked, "generate_random", NumberOfBytes="many")

# Deletion last.
when = call(kms, "schedule_key_deletion", KeyId=other, PendingWindowInDays=7)
assert when["KeyState"] == "PendingDeletion", when
fails("KMSInvalidStateException", kms, "encrypt", KeyId=other, Plaintext=b"x")
call(kms, "cancel_key_deletion", KeyId=other)
call(kms, "delete_alias", AliasName="alias/boto3")
fails("NotFoundException", kms, "delete_alias", AliasName="alias/boto3")

# Every region from one endpoint: a client of another region has its own keys and aliases.
west = boto3.client("kms", endpoint_url=ENDPOINT, region_name="us-west-2",
                    config=Config(retries={"max_attempts": 1}))
west_key = west.create_key(Description="west")["KeyMetadata"]
assert west_key["Arn"].startswith("arn:aws:kms:us-west-2:"), west_key
assert [k["KeyId"] for k in west.list_keys()["Keys"]] == [west_key["KeyId"]]
fails("NotFoundException", kms, "describe_key", KeyId=west_key["Arn"])
west.create_alias(AliasName="alias/boto3-west", TargetKeyId=west_key["KeyId"])
fails("NotFoundException", kms, "describe_key", KeyId="alias/boto3-west")
ct_west = west.encrypt(KeyId="alias/boto3-west", Plaintext=b"west")["CiphertextBlob"]
assert west.decrypt(CiphertextBlob=ct_west)["Plaintext"] == b"west"

# Multi-Region keys: a primary here, a replica in us-west-2, ciphertexts cross over.
mrk = call(kms, "create_key", MultiRegion=True, Description="mrk")["KeyMetadata"]
assert mrk["KeyId"].startswith("mrk-") and mrk["MultiRegion"], mrk
assert mrk["MultiRegionConfiguration"]["MultiRegionKeyType"] == "PRIMARY", mrk
replica = call(kms, "replicate_key", KeyId=mrk["KeyId"], ReplicaRegion="us-west-2",
               Description="mrk replica", Tags=[{"TagKey": "r", "TagValue": "west"}])
meta = replica["ReplicaKeyMetadata"]
assert meta["KeyId"] == mrk["KeyId"] and meta["Arn"].startswith("arn:aws:kms:us-west-2:"), meta
assert meta["MultiRegionConfiguration"]["MultiRegionKeyType"] == "REPLICA", meta
assert replica["ReplicaTags"] == [{"TagKey": "r", "TagValue": "west"}], replica
fails("AlreadyExistsException", kms, "replicate_key", KeyId=mrk["KeyId"], ReplicaRegion="us-west-2")
fails("UnsupportedOperationException", kms, "replicate_key", KeyId=key, ReplicaRegion="us-west-2")
ct_east = kms.encrypt(KeyId=mrk["KeyId"], Plaintext=b"crossing")["CiphertextBlob"]
assert west.decrypt(CiphertextBlob=ct_east)["Plaintext"] == b"crossing"
primary = kms.describe_key(KeyId=mrk["KeyId"])["KeyMetadata"]["MultiRegionConfiguration"]
assert [r["Region"] for r in primary["ReplicaKeys"]] == ["us-west-2"], primary
call(kms, "update_primary_region", KeyId=mrk["KeyId"], PrimaryRegion="us-west-2")
now = west.describe_key(KeyId=mrk["KeyId"])["KeyMetadata"]["MultiRegionConfiguration"]
assert now["MultiRegionKeyType"] == "PRIMARY" and now["PrimaryKey"]["Region"] == "us-west-2", now
fails("UnsupportedOperationException", kms, "rotate_key_on_demand", KeyId=mrk["KeyId"])

# Imported key material: wrap as AWS documents it, import, crypto-erase, reimport.
from cryptography.hazmat.primitives.asymmetric import padding as asym_padding
from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding


def wrap(public_der, algorithm, material):
    public = serialization.load_der_public_key(public_der)
    sha = hashes.SHA256() if algorithm.endswith("SHA_256") else hashes.SHA1()
    oaep = asym_padding.OAEP(mgf=asym_padding.MGF1(algorithm=sha), algorithm=sha, label=None)
    if algorithm.startswith("RSAES_OAEP"):
        return public.encrypt(material, oaep)
    ephemeral = os.urandom(32)
    return public.encrypt(ephemeral, oaep) + aes_key_wrap_with_padding(ephemeral, material)


ext = call(kms, "create_key", Origin="EXTERNAL", Description="imported")["KeyMetadata"]
assert ext["Origin"] == "EXTERNAL" and ext["KeyState"] == "PendingImport", ext
fails("UnsupportedOperationException", kms, "get_parameters_for_import", KeyId=key,
      WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048")
fails("UnsupportedOperationException", kms, "create_key", Origin="EXTERNAL", MultiRegion=True)
material = os.urandom(32)
for algorithm in ["RSAES_OAEP_SHA_256", "RSA_AES_KEY_WRAP_SHA_256"]:
    params = call(kms, "get_parameters_for_import", KeyId=ext["KeyId"],
                  WrappingAlgorithm=algorithm, WrappingKeySpec="RSA_3072")
    assert params["KeyId"] == ext["Arn"] and params["ParametersValidTo"], params
    imported = call(kms, "import_key_material", KeyId=ext["KeyId"],
                    ImportToken=params["ImportToken"],
                    EncryptedKeyMaterial=wrap(params["PublicKey"], algorithm, material),
                    ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
    assert len(imported["KeyMaterialId"]) == 64, imported
meta = kms.describe_key(KeyId=ext["KeyId"])["KeyMetadata"]
assert meta["KeyState"] == "Enabled" and meta["ExpirationModel"] == "KEY_MATERIAL_DOES_NOT_EXPIRE"
assert meta["CurrentKeyMaterialId"] == imported["KeyMaterialId"], meta
ct_ext = kms.encrypt(KeyId=ext["KeyId"], Plaintext=b"imported")["CiphertextBlob"]
params = kms.get_parameters_for_import(KeyId=ext["KeyId"], WrappingAlgorithm="RSAES_OAEP_SHA_1",
                                       WrappingKeySpec="RSA_2048")
fails("InvalidCiphertextException", kms, "import_key_material", KeyId=ext["KeyId"],
      ImportToken=params["ImportToken"], EncryptedKeyMaterial=b"\0" * 256,
      ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
fails("IncorrectKeyMaterialException", kms, "import_key_material", KeyId=ext["KeyId"],
      ImportToken=params["ImportToken"],
      EncryptedKeyMaterial=wrap(params["PublicKey"], "RSAES_OAEP_SHA_1", os.urandom(32)),
      ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
fails("InvalidImportTokenException", kms, "import_key_material", KeyId=ext["KeyId"],
      ImportToken=params["ImportToken"][:-1] + bytes([params["ImportToken"][-1] ^ 1]),
      EncryptedKeyMaterial=wrap(params["PublicKey"], "RSAES_OAEP_SHA_1", material),
      ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
fails("ValidationException", kms, "import_key_material", KeyId=ext["KeyId"],
      ImportToken=params["ImportToken"],
      EncryptedKeyMaterial=wrap(params["PublicKey"], "RSAES_OAEP_SHA_1", material))
deleted = call(kms, "delete_imported_key_material", KeyId=ext["KeyId"])
assert deleted["KeyMaterialId"] == imported["KeyMaterialId"], deleted
assert kms.describe_key(KeyId=ext["KeyId"])["KeyMetadata"]["KeyState"] == "PendingImport"
fails("KMSInvalidStateException", kms, "decrypt", CiphertextBlob=ct_ext)
kms.import_key_material(KeyId=ext["KeyId"], ImportToken=params["ImportToken"],
                        EncryptedKeyMaterial=wrap(params["PublicKey"], "RSAES_OAEP_SHA_1", material),
                        ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
assert kms.decrypt(CiphertextBlob=ct_ext)["Plaintext"] == b"imported"
fails("UnsupportedOperationException", kms, "enable_key_rotation", KeyId=ext["KeyId"])
materials = kms.list_key_rotations(KeyId=ext["KeyId"], IncludeKeyMaterial="ALL_KEY_MATERIAL")
entry = materials["Rotations"][0]
assert entry["KeyMaterialState"] == "CURRENT" and entry["ImportState"] == "IMPORTED", materials
fails("AccessDeniedException", outsider, "get_parameters_for_import", KeyId=ext["Arn"],
      WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048")

expected = {
    "create_key", "describe_key", "list_keys", "update_key_description", "enable_key",
    "disable_key", "schedule_key_deletion", "cancel_key_deletion", "tag_resource",
    "untag_resource", "list_resource_tags", "create_alias", "update_alias", "delete_alias",
    "list_aliases", "encrypt", "decrypt", "re_encrypt", "generate_data_key",
    "generate_data_key_without_plaintext", "generate_data_key_pair",
    "generate_data_key_pair_without_plaintext", "generate_random", "sign", "verify",
    "get_public_key", "generate_mac", "verify_mac", "derive_shared_secret",
    "enable_key_rotation", "disable_key_rotation", "get_key_rotation_status",
    "rotate_key_on_demand", "list_key_rotations", "get_key_policy", "put_key_policy",
    "list_key_policies", "create_grant", "list_grants", "list_retirable_grants",
    "retire_grant", "revoke_grant", "replicate_key", "update_primary_region",
    "get_key_last_usage", "encapsulate", "decapsulate", "get_parameters_for_import",
    "import_key_material", "delete_imported_key_material",
}
missing = expected - called
assert not missing, f"not driven: {sorted(missing)}"
print(f"boto3: {len(called)} operations ok")
