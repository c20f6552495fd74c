# One customer-managed key for the pipeline's data at rest: the Kinesis streams, the S3 files
# and the CloudWatch log groups. A CMK (rather than the AWS-managed keys) lets the key policy
# and IAM decide who can read the events, and shows every use of it in CloudTrail.
resource "aws_kms_key" "this" {
  description             = "${local.name_prefix}: Kinesis streams, S3 files and logs of the System Two ingest"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_deletion_window_days
  policy                  = data.aws_iam_policy_document.kms.json
  tags                    = local.tags
}

resource "aws_kms_alias" "this" {
  name          = "alias/${local.name_prefix}"
  target_key_id = aws_kms_key.this.key_id
}

data "aws_iam_policy_document" "kms" {
  #checkov:skip=CKV_AWS_109:A key policy's Resource "*" is the key itself; the account needs key administration (PutKeyPolicy included) or the key becomes unmanageable.
  #checkov:skip=CKV_AWS_111:A key policy's Resource "*" is the key itself; write actions are delegated to IAM policies, which name the key.
  #checkov:skip=CKV_AWS_356:A key policy's Resource "*" is the key itself; it cannot name a narrower resource.

  # The account administers the key and may delegate its use through IAM policies (which the
  # roles in iam.tf do, each naming this key). Actions are listed, not "kms:*".
  statement {
    sid    = "AccountAdministersAndDelegatesTheKey"
    effect = "Allow"
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
    actions = [
      "kms:CancelKeyDeletion",
      "kms:CreateAlias",
      "kms:CreateGrant",
      "kms:Decrypt",
      "kms:DeleteAlias",
      "kms:DescribeKey",
      "kms:DisableKey",
      "kms:DisableKeyRotation",
      "kms:EnableKey",
      "kms:EnableKeyRotation",
      "kms:Encrypt",
      "kms:GenerateDataKey",
      "kms:GenerateDataKeyWithoutPlaintext",
      "kms:GetKeyPolicy",
      "kms:GetKeyRotationStatus",
      "kms:ListGrants",
      "kms:ListKeyRotations",
      "kms:ListResourceTags",
      "kms:PutKeyPolicy",
      "kms:ReEncryptFrom",
      "kms:ReEncryptTo",
      "kms:RetireGrant",
      "kms:RevokeGrant",
      "kms:RotateKeyOnDemand",
      "kms:ScheduleKeyDeletion",
      "kms:TagResource",
      "kms:UntagResource",
      "kms:UpdateAlias",
      "kms:UpdateKeyDescription",
    ]
    resources = ["*"]
  }

  # CloudWatch Logs encrypts this pipeline's log groups (and only those) with the key.
  statement {
    sid    = "CloudWatchLogsEncryptsThePipelineLogGroups"
    effect = "Allow"
    principals {
      type        = "Service"
      identifiers = ["logs.${local.region}.amazonaws.com"]
    }
    actions = [
      "kms:Decrypt",
      "kms:DescribeKey",
      "kms:Encrypt",
      "kms:GenerateDataKey",
      "kms:GenerateDataKeyWithoutPlaintext",
      "kms:ReEncryptFrom",
      "kms:ReEncryptTo",
    ]
    resources = ["*"]
    condition {
      test     = "ArnEquals"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values = [
        for name in concat(
          [local.api_access_log_group_name, local.lambda_log_group_name],
          values(local.firehose_log_group_names),
        ) : "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:${name}"
      ]
    }
  }
}
