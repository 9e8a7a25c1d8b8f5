"""template.yaml's uploads bucket: private, encrypted, TLS-only, unversioned, unsent files
expired by tag, incomplete multipart uploads aborted, POSTs allowed from the site's origin only,
and its object-created events under files/ delivered to the thumbnail function."""

from __future__ import annotations

from devstack.s3 import s3_notifications
from lambdas.services.uploads import ORIGINALS, UNSENT_SECONDS, UNSENT_TAG


def test_the_bucket_is_private_encrypted_and_unversioned(template):
    """Public access blocked four ways, SSE by default, ACLs off, no versioning."""
    bucket = template["Resources"]["UploadsBucket"]["Properties"]
    assert set(bucket["PublicAccessBlockConfiguration"].values()) == {True}
    rule = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert bucket["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    assert "VersioningConfiguration" not in bucket


def test_only_tls_reaches_the_bucket(template):
    """The bucket policy denies every request that is not over TLS, on the bucket and objects."""
    policy = template["Resources"]["UploadsBucketPolicy"]["Properties"]["PolicyDocument"]
    (statement,) = policy["Statement"]
    assert (statement["Effect"], statement["Action"]) == ("Deny", "s3:*")
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert len(statement["Resource"]) == 2


def test_unsent_files_and_abandoned_multipart_uploads_expire(template):
    """The lifecycle rule expires what still carries the unsent tag after the day an unsent
    upload's item lives, and aborts incomplete multipart uploads."""
    rules = template["Resources"]["UploadsBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    expire = next(r for r in rules if "TagFilters" in r)
    assert expire["TagFilters"] == [{"Key": UNSENT_TAG[0], "Value": UNSENT_TAG[1]}]
    assert expire["ExpirationInDays"] * 86400 == UNSENT_SECONDS
    assert any(r.get("AbortIncompleteMultipartUpload") for r in rules)


def test_cors_lets_the_site_post_and_nothing_else(template):
    (rule,) = template["Resources"]["UploadsBucket"]["Properties"]["CorsConfiguration"]["CorsRules"]
    assert rule["AllowedMethods"] == ["POST"]
    assert rule["AllowedOrigins"] == [{"Ref": "SiteOrigin"}]


def test_the_thumbnail_function_hears_of_originals_only(template):
    """One S3 subscription, on files/ (thumbnails it writes under thumbs/ trigger nothing)."""
    assert s3_notifications(template) == [("ThumbnailFunction", ORIGINALS)]
