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
  # The same rules as the transform (transforms/streams.py MAX_KEY_LENGTH, transforms/events.py
  # UUID_RE and the RFC 3339 shape of parse_timestamp), so the gateway never rejects an event
  # the transform would accept; tests/infra checks that they agree.
  max_key_length    = 128
  event_id_pattern  = "^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$"
  timestamp_pattern = "^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$"
  key_field_schemas = {
    string = { type = "string", minLength = 1, maxLength = local.max_key_length }
    code   = { type = "string", minLength = 1, maxLength = local.max_key_length }
    int    = { type = "integer" }
  }

  # One JSON schema (draft 4, what API Gateway models use) per stream: the envelope of the
  # contract. The transform does the full validation of "data"; the gateway answers 400 for a
  # body that is not an event of the stream in the URL.
  request_schemas = {
    for name, s in local.streams : name => jsonencode({
      "$schema" = "http://json-schema.org/draft-04/schema#"
      title     = "${s.model} event (stream ${name})"
      type      = "object"
      required  = ["eventId", "stream", "eventType", "occurredAt", "version", "key"]
      properties = {
        eventId    = { type = "string", pattern = local.event_id_pattern }
        stream     = { type = "string", enum = [name] }
        eventType  = { type = "string", enum = ["upsert", "delete"] }
        occurredAt = { type = "string", pattern = local.timestamp_pattern }
        version    = { type = "integer", minimum = 1 }
        key = {
          type       = "object"
          required   = [for k in s.key : k.name]
          properties = { for k in s.key : k.name => local.key_field_schemas[k.type] }
        }
        data = { type = ["object", "null"] }
      }
    })
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
  redrive_prefix_root  = "redrive/" # manage.py redrive's files: outside the notified prefixes

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
