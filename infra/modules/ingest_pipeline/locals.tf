# The nine System Two streams come from transforms/streams.json, their ONE definition (the
# transform and the importer read the same file). Nothing in infra/ lists stream names or key
# fields: every per-stream resource is a for_each over local.streams.
locals {
  streams_file = "${path.module}/../../../transforms/streams.json"
  streams_doc  = jsondecode(file(local.streams_file))
  streams      = { for s in local.streams_doc.streams : s.name => s }
  stream_names = sort(keys(local.streams))

  # "${environment}-${stream}" for the Kinesis stream and the Firehose delivery stream of each
  # stream: the transform derives the stream from the delivery stream's name (the suffix after
  # "{environment}-"), so this naming is part of the contract.
  resource_names = { for name in local.stream_names : name => "${var.environment}-${name}" }

  # ---- API Gateway: request validation and the PutRecord mapping ---------------------------
  # The import API's OpenAPI document, generated from streams.json by `python -m
  # transforms.openapi` and checked in (CI fails when it is stale). The local API validates
  # with the same schemas; here each stream's schema becomes the API Gateway model of its
  # POST method (JSON Schema draft 4, which these schemas are written in: no $ref, no nullable).
  openapi_file    = "${path.module}/../../openapi.json"
  openapi         = jsondecode(file(local.openapi_file))
  openapi_schemas = local.openapi.components.schemas
  request_schemas = {
    for name, s in local.streams : name => jsonencode(merge(
      { "$schema" = "http://json-schema.org/draft-04/schema#" },
      local.openapi_schemas["${s.model}Event"],
    ))
  }

  # PartitionKey = the entity's natural key from the body (fields joined with "|" for composite
  # keys), so all events of one entity land on one shard, in order.
  partition_key_expressions = {
    for name, s in local.streams : name => join("|", [for k in s.key : "$input.path('$.key.${k.name}')"])
  }

  # ---- Names -------------------------------------------------------------------------------
  name_prefix          = "${var.environment}-erp-ingest"
  bucket_name          = coalesce(var.bucket_name, "${local.name_prefix}-${data.aws_caller_identity.current.account_id}-${data.aws_region.current.name}")
  lambda_function_name = "${var.environment}-erp-ingest-transform"
  lambda_zip_path      = coalesce(var.lambda_zip_path, "${path.module}/../../../dist/transform.zip")
  error_prefix_root    = "errors/"
  redrive_prefix_root  = "redrive/"   # manage.py redrive's files: outside the notified prefixes
  snapshot_prefix_root = "snapshots/" # System Two's snapshots of a stream ({stream}/...): reconciliation

  api_access_log_group_name = "/aws/apigateway/${local.name_prefix}-api"
  lambda_log_group_name     = "/aws/lambda/${local.lambda_function_name}"
  firehose_log_group_names  = { for name in local.stream_names : name => "/aws/kinesisfirehose/${local.resource_names[name]}" }

  alarm_actions = var.alarm_topic_arn == null ? [] : [var.alarm_topic_arn]

  account_id = data.aws_caller_identity.current.account_id
  region     = data.aws_region.current.name
  partition  = data.aws_partition.current.partition

  tags = merge(var.tags, {
    "erp-ingest:environment" = var.environment
  })
}

data "aws_caller_identity" "current" {}

data "aws_region" "current" {}

data "aws_partition" "current" {}
