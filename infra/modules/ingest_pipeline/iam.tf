# Least privilege: every statement lists its actions (no "*" or "service:*" in a grant) and
# names its resources, except X-Ray's, which has no resource-level permissions.

locals {
  kinesis_stream_arns = [for s in aws_kinesis_stream.this : s.arn]
  kinesis_via_service = "kinesis.${local.region}.amazonaws.com"
  s3_via_service      = "s3.${local.region}.amazonaws.com"
}

# ---- API Gateway -> Kinesis PutRecord -------------------------------------------------------

data "aws_iam_policy_document" "apigateway_assume" {
  statement {
    effect  = "Allow"
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["apigateway.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "apigateway_kinesis" {
  name               = "${local.name_prefix}-apigw-kinesis"
  description        = "API Gateway puts System Two events into the ${var.environment} Kinesis streams"
  assume_role_policy = data.aws_iam_policy_document.apigateway_assume.json
  tags               = local.tags
}

data "aws_iam_policy_document" "apigateway_kinesis" {
  statement {
    sid       = "PutRecordOnTheStreams"
    effect    = "Allow"
    actions   = ["kinesis:PutRecord"]
    resources = local.kinesis_stream_arns
  }

  statement {
    sid       = "EncryptRecordsWithThePipelineKey"
    effect    = "Allow"
    actions   = ["kms:GenerateDataKey"]
    resources = [aws_kms_key.this.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = [local.kinesis_via_service]
    }
  }
}

resource "aws_iam_role_policy" "apigateway_kinesis" {
  name   = "put-record"
  role   = aws_iam_role.apigateway_kinesis.id
  policy = data.aws_iam_policy_document.apigateway_kinesis.json
}

# ---- Firehose: one role per delivery stream ----------------------------------------------------

data "aws_iam_policy_document" "firehose_assume" {
  statement {
    effect  = "Allow"
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["firehose.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "sts:ExternalId"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "firehose" {
  for_each = local.streams

  name               = "${local.resource_names[each.key]}-firehose"
  description        = "Firehose ${local.resource_names[each.key]}: its Kinesis stream -> transform -> ${each.key}/ in the ingest bucket"
  assume_role_policy = data.aws_iam_policy_document.firehose_assume.json
  tags               = local.tags
}

data "aws_iam_policy_document" "firehose" {
  for_each = local.streams

  statement {
    sid    = "ReadItsKinesisStream"
    effect = "Allow"
    actions = [
      "kinesis:DescribeStream",
      "kinesis:DescribeStreamSummary",
      "kinesis:GetRecords",
      "kinesis:GetShardIterator",
      "kinesis:ListShards",
    ]
    resources = [aws_kinesis_stream.this[each.key].arn]
  }

  statement {
    sid       = "DecryptItsKinesisStream"
    effect    = "Allow"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.this.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = [local.kinesis_via_service]
    }
    condition {
      test     = "StringEquals"
      variable = "kms:EncryptionContext:aws:kinesis:arn"
      values   = [aws_kinesis_stream.this[each.key].arn]
    }
  }

  statement {
    sid       = "InvokeTheTransform"
    effect    = "Allow"
    actions   = ["lambda:GetFunctionConfiguration", "lambda:InvokeFunction"]
    resources = [aws_lambda_function.transform.arn, "${aws_lambda_function.transform.arn}:*"]
  }

  statement {
    sid    = "LocateTheBucket"
    effect = "Allow"
    actions = [
      "s3:GetBucketLocation",
      "s3:ListBucket",
      "s3:ListBucketMultipartUploads",
    ]
    resources = [aws_s3_bucket.ingest.arn]
  }

  statement {
    sid    = "WriteItsPrefixes"
    effect = "Allow"
    actions = [
      "s3:AbortMultipartUpload",
      "s3:GetObject",
      "s3:PutObject",
    ]
    resources = [
      "${aws_s3_bucket.ingest.arn}/${each.key}/*",
      "${aws_s3_bucket.ingest.arn}/${local.error_prefix_root}${each.key}/*",
    ]
  }

  statement {
    sid       = "EncryptTheFiles"
    effect    = "Allow"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.this.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = [local.s3_via_service]
    }
    # With an S3 Bucket Key the encryption context is the bucket's ARN, without it the object's.
    condition {
      test     = "StringLike"
      variable = "kms:EncryptionContext:aws:s3:arn"
      values = [
        aws_s3_bucket.ingest.arn,
        "${aws_s3_bucket.ingest.arn}/${each.key}/*",
        "${aws_s3_bucket.ingest.arn}/${local.error_prefix_root}${each.key}/*",
      ]
    }
  }

  statement {
    sid       = "LogDeliveryErrors"
    effect    = "Allow"
    actions   = ["logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.firehose[each.key].arn}:log-stream:*"]
  }
}

resource "aws_iam_role_policy" "firehose" {
  for_each = local.streams

  name   = "deliver"
  role   = aws_iam_role.firehose[each.key].id
  policy = data.aws_iam_policy_document.firehose[each.key].json
}

# ---- Transform Lambda: its logs (and X-Ray traces) ------------------------------------------

data "aws_iam_policy_document" "lambda_assume" {
  statement {
    effect  = "Allow"
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "lambda" {
  name               = "${local.name_prefix}-transform"
  description        = "The ${var.environment} Firehose transform Lambda: writes its logs and traces, nothing else"
  assume_role_policy = data.aws_iam_policy_document.lambda_assume.json
  tags               = local.tags
}

data "aws_iam_policy_document" "lambda" {
  statement {
    sid       = "WriteItsLogs"
    effect    = "Allow"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.lambda.arn}:*"]
  }

  # Active tracing; X-Ray has no resource-level permissions, so "*" is the only resource.
  statement {
    sid       = "WriteTraces"
    effect    = "Allow"
    actions   = ["xray:PutTelemetryRecords", "xray:PutTraceSegments"]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "lambda" {
  name   = "logs-and-traces"
  role   = aws_iam_role.lambda.id
  policy = data.aws_iam_policy_document.lambda.json
}

# ---- The website's processes: one policy each -------------------------------------------------
# Attach each to the role its processes run as (ECS task role, EC2 instance profile, ...):
#   consumer  manage.py consume_events (and the on-demand reimport --missing / import_file,
#             run where the consumer runs): consumes the notification queue, lists and reads
#             the stream prefixes (and errors/, where operators look at rejected records);
#   worker    the Celery importer: reads the files it is given, nothing else;
#   web       gunicorn and the admin: a re-import is enqueued for a worker, or (with
#             INGEST_ADMIN_REIMPORT_SYNC) run in the request, which reads the file.
# Listing is limited with s3:prefix to those prefixes: a listing of the whole bucket, or of
# another prefix, is refused.

locals {
  stream_object_arns   = [for name in local.stream_names : "${aws_s3_bucket.ingest.arn}/${name}/*"]
  error_object_arns    = ["${aws_s3_bucket.ingest.arn}/${local.error_prefix_root}*"]
  snapshot_object_arns = ["${aws_s3_bucket.ingest.arn}/${local.snapshot_prefix_root}*"]
  listable_s3_prefixes = concat([for name in local.stream_names : "${name}/*"], ["${local.error_prefix_root}*"])
}

data "aws_iam_policy_document" "consumer" {
  statement {
    sid       = "ListTheStreamPrefixes"
    effect    = "Allow"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.ingest.arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = local.listable_s3_prefixes
    }
  }

  statement {
    sid       = "ReadTheStreamAndErrorFiles"
    effect    = "Allow"
    actions   = ["s3:GetObject"]
    resources = concat(local.stream_object_arns, local.error_object_arns)
  }

  statement {
    sid       = "DecryptTheFiles"
    effect    = "Allow"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.this.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = [local.s3_via_service]
    }
  }

  # Rejected records: the consumer on the failed-records queue reads Firehose's error output
  # (ReadTheStreamAndErrorFiles above); `manage.py redrive` writes the records that now pass under redrive/ and the workers import them.
  statement {
    sid       = "WriteAndReadTheRedriveFiles"
    effect    = "Allow"
    actions   = ["s3:GetObject", "s3:PutObject"]
    resources = ["${aws_s3_bucket.ingest.arn}/${local.redrive_prefix_root}*"]
  }

  statement {
    sid       = "EncryptTheRedriveFiles"
    effect    = "Allow"
    actions   = ["kms:GenerateDataKey"]
    resources = [aws_kms_key.this.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = [local.s3_via_service]
    }
  }

  # GetQueueAttributes: a draining consumer (consume_events --drain) looks at the queue depth.
  statement {
    sid    = "ConsumeTheNotifications"
    effect = "Allow"
    actions = [
      "sqs:ChangeMessageVisibility",
      "sqs:DeleteMessage",
      "sqs:GetQueueAttributes",
      "sqs:ReceiveMessage",
    ]
    resources = [aws_sqs_queue.ingest.arn, aws_sqs_queue.failed_records.arn]
  }
}

data "aws_iam_policy_document" "worker" {
  # The stream files it imports, and System Two's snapshots it reconciles.
  statement {
    sid       = "ReadTheStreamFilesAndSnapshots"
    effect    = "Allow"
    actions   = ["s3:GetObject"]
    resources = concat(local.stream_object_arns, local.snapshot_object_arns)
  }

  statement {
    sid       = "DecryptTheStreamFiles"
    effect    = "Allow"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.this.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = [local.s3_via_service]
    }
  }
}

data "aws_iam_policy_document" "web" {
  statement {
    sid       = "ReimportInTheRequest"
    effect    = "Allow"
    actions   = ["s3:GetObject"]
    resources = local.stream_object_arns
  }

  statement {
    sid       = "DecryptTheStreamFiles"
    effect    = "Allow"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.this.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = [local.s3_via_service]
    }
  }
}

resource "aws_iam_policy" "consumer" {
  name        = "${local.name_prefix}-consumer"
  description = "Django event consumer of the ${var.environment} System Two ingest: consume the notification queue, list and read the stream files"
  policy      = data.aws_iam_policy_document.consumer.json
  tags        = local.tags
}

resource "aws_iam_policy" "worker" {
  name        = "${local.name_prefix}-worker"
  description = "Celery import workers of the ${var.environment} System Two ingest: read the stream files"
  policy      = data.aws_iam_policy_document.worker.json
  tags        = local.tags
}

resource "aws_iam_policy" "web" {
  name        = "${local.name_prefix}-web"
  description = "Django web (admin) of the ${var.environment} System Two ingest: read a stream file for an in-request re-import"
  policy      = data.aws_iam_policy_document.web.json
  tags        = local.tags
}

# ---- System Two: what its role needs to call the API ----------------------------------------------
# An identity policy for the role(s) in var.system_two_principal_arns (output
# system_two_invoke_policy_json): with the resource policy it is needed when System Two's
# account is another one, and it names exactly the POST methods of this stage.

data "aws_iam_policy_document" "system_two_invoke" {
  statement {
    sid       = "PostEventsToTheImportApi"
    effect    = "Allow"
    actions   = ["execute-api:Invoke"]
    resources = ["${aws_api_gateway_rest_api.this.execution_arn}/${var.api_stage_name}/POST/v1/*"]
  }
}

# Snapshots for reconciliation (docs/reconciliation.md): System Two puts them under snapshots/ and
# nowhere else (output system_two_snapshot_policy_json); it may not read, list or overwrite others.
data "aws_iam_policy_document" "system_two_snapshots" {
  statement {
    sid       = "PutSnapshots"
    effect    = "Allow"
    actions   = ["s3:PutObject"]
    resources = local.snapshot_object_arns
  }

  statement {
    sid       = "EncryptTheSnapshots"
    effect    = "Allow"
    actions   = ["kms:GenerateDataKey"]
    resources = [aws_kms_key.this.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = [local.s3_via_service]
    }
  }
}

# ---- API Gateway's account-wide CloudWatch Logs role (optional) -------------------------------
# API Gateway has ONE CloudWatch Logs role per account and region, used by every REST API there
# for execution and access logs. Because it serves APIs this module does not know, it gets
# AWS's managed policy for exactly this purpose rather than a list of this API's log groups.

resource "aws_iam_role" "apigateway_cloudwatch" {
  count = var.manage_api_gateway_account ? 1 : 0

  name               = "${local.name_prefix}-apigw-cloudwatch"
  description        = "API Gateway (account-wide, ${local.region}) writes execution and access logs"
  assume_role_policy = data.aws_iam_policy_document.apigateway_assume.json
  tags               = local.tags
}

resource "aws_iam_role_policy_attachment" "apigateway_cloudwatch" {
  count = var.manage_api_gateway_account ? 1 : 0

  role       = aws_iam_role.apigateway_cloudwatch[0].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"
}

resource "aws_api_gateway_account" "this" {
  count = var.manage_api_gateway_account ? 1 : 0

  cloudwatch_role_arn = aws_iam_role.apigateway_cloudwatch[0].arn

  depends_on = [aws_iam_role_policy_attachment.apigateway_cloudwatch]
}
