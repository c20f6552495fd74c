# The import API System Two calls: POST /v1/{stream}, one event per request.
#
# Authentication: IAM. Every request is signed with AWS Signature Version 4 by System Two's
# IAM role (var.system_two_principal_arns); SigV4 covers the method, path, headers, a hash of
# the body and X-Amz-Date, and AWS refuses a signature more than 5 minutes old, so a captured
# request can be neither altered nor replayed later. The resource policy below lets only those
# principals invoke the API (and, optionally, only from var.api_allowed_source_cidrs). A Lambda
# authorizer could not do the local API's HMAC check instead: it never sees the request body.
# The API key stays, but only to tie System Two to its usage plan (throttling, quota): it is
# not a credential.
#
#   200 {"sequenceNumber": "..."}  the event is stored in the stream's Kinesis stream
#   400                            the body is not an event of that stream (the stream's schema
#                                  in infra/openapi.json, as an API Gateway model)
#   403                            not signed, a bad or expired signature, a principal the
#                                  resource policy does not allow, or no/a wrong x-api-key
#   404                            unknown stream, or a method other than POST (API Gateway
#                                  answers MISSING_AUTHENTICATION_TOKEN for any path/method
#                                  that does not exist; it is mapped to 404 below)
#   415                            a Content-Type other than application/json (none: JSON)
#   429                            throttled by the usage plan or the stage
#   500 / 503                      Kinesis refused the record (503: throughput or KMS
#                                  throttling, retry later; 500: anything else)
#
# One resource per stream under /v1, all from local.streams (transforms/streams.json).

resource "aws_api_gateway_rest_api" "this" {
  name           = "${local.name_prefix}-api"
  description    = "System Two import API (${var.environment}): POST /v1/{stream} -> Kinesis"
  api_key_source = "HEADER"

  endpoint_configuration {
    types = ["REGIONAL"]
  }

  tags = local.tags

  lifecycle {
    create_before_destroy = true
  }
}

# Only System Two's principals may invoke the API, and only its POST methods; everyone else is
# denied even if an identity policy of theirs allows execute-api:Invoke.
data "aws_iam_policy_document" "api" {
  statement {
    sid    = "SystemTwoPostsEvents"
    effect = "Allow"
    principals {
      type        = "AWS"
      identifiers = var.system_two_principal_arns
    }
    actions   = ["execute-api:Invoke"]
    resources = ["${aws_api_gateway_rest_api.this.execution_arn}/${var.api_stage_name}/POST/v1/*"]
  }

  statement {
    sid    = "NobodyElse"
    effect = "Deny"
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    actions   = ["execute-api:Invoke"]
    resources = ["${aws_api_gateway_rest_api.this.execution_arn}/*"]
    condition {
      test     = "ArnNotLike"
      variable = "aws:PrincipalArn"
      values   = var.system_two_principal_arns
    }
  }

  dynamic "statement" {
    for_each = length(var.api_allowed_source_cidrs) == 0 ? [] : [var.api_allowed_source_cidrs]
    content {
      sid    = "OnlyFromSystemTwosNetworks"
      effect = "Deny"
      principals {
        type        = "*"
        identifiers = ["*"]
      }
      actions   = ["execute-api:Invoke"]
      resources = ["${aws_api_gateway_rest_api.this.execution_arn}/*"]
      condition {
        test     = "NotIpAddress"
        variable = "aws:SourceIp"
        values   = statement.value
      }
    }
  }
}

resource "aws_api_gateway_rest_api_policy" "this" {
  rest_api_id = aws_api_gateway_rest_api.this.id
  policy      = data.aws_iam_policy_document.api.json
}

resource "aws_api_gateway_resource" "v1" {
  rest_api_id = aws_api_gateway_rest_api.this.id
  parent_id   = aws_api_gateway_rest_api.this.root_resource_id
  path_part   = "v1"
}

resource "aws_api_gateway_resource" "stream" {
  for_each = local.streams

  rest_api_id = aws_api_gateway_rest_api.this.id
  parent_id   = aws_api_gateway_resource.v1.id
  path_part   = each.key
}

resource "aws_api_gateway_request_validator" "body" {
  rest_api_id                 = aws_api_gateway_rest_api.this.id
  name                        = "event-body"
  validate_request_body       = true
  validate_request_parameters = false
}

resource "aws_api_gateway_model" "event" {
  for_each = local.streams

  rest_api_id  = aws_api_gateway_rest_api.this.id
  name         = "${each.value.model}Event" # model names must be alphanumeric: "<model>Event"
  description  = "An event of the ${each.key} stream (System Two contract envelope)"
  content_type = "application/json"
  schema       = local.request_schemas[each.key]
}

resource "aws_api_gateway_method" "post" {
  for_each = local.streams

  rest_api_id          = aws_api_gateway_rest_api.this.id
  resource_id          = aws_api_gateway_resource.stream[each.key].id
  http_method          = "POST"
  authorization        = "AWS_IAM"
  api_key_required     = true
  request_validator_id = aws_api_gateway_request_validator.body.id
  request_models = {
    "application/json" = aws_api_gateway_model.event[each.key].name
  }
}

# AWS service integration: Kinesis PutRecord, signed with the API's role. Data is the request
# body as sent (base64, as the Kinesis API wants it); PartitionKey is the entity's key, so one
# entity's events stay in order on one shard. escapeJavaScript makes the key safe inside the
# JSON string (its \' is not JSON, hence the replaceAll).
resource "aws_api_gateway_integration" "kinesis" {
  for_each = local.streams

  rest_api_id             = aws_api_gateway_rest_api.this.id
  resource_id             = aws_api_gateway_resource.stream[each.key].id
  http_method             = aws_api_gateway_method.post[each.key].http_method
  type                    = "AWS"
  integration_http_method = "POST"
  uri                     = "arn:${local.partition}:apigateway:${local.region}:kinesis:action/PutRecord"
  credentials             = aws_iam_role.apigateway_kinesis.arn
  passthrough_behavior    = "NEVER"

  request_parameters = {
    "integration.request.header.Content-Type" = "'application/x-amz-json-1.1'"
  }

  request_templates = {
    "application/json" = <<-EOT
      #set($partitionKey = "${local.partition_key_expressions[each.key]}")
      {
        "StreamName": "${aws_kinesis_stream.this[each.key].name}",
        "Data": "$util.base64Encode($input.body)",
        "PartitionKey": "$util.escapeJavaScript($partitionKey).replaceAll("\\'", "'")"
      }
    EOT
  }
}

locals {
  # Integration responses, selected by Kinesis's HTTP status (for AWS integrations the
  # selection pattern matches the status code).
  integration_responses = {
    "200" = {
      selection_pattern = null # the default response
      template          = <<-EOT
        {"sequenceNumber": "$input.path('$.SequenceNumber')"}
      EOT
    }
    # Kinesis answers 400 for throttling as well as for errors of ours (access, KMS, missing
    # stream): throttling becomes 503 (System Two retries), the rest 500.
    "500" = {
      selection_pattern = "4\\d{2}"
      template          = <<-EOT
        #set($errorType = "$input.path('$.__type')")
        #if($errorType.contains("ProvisionedThroughputExceeded") || $errorType.contains("KMSThrottling") || $errorType.contains("LimitExceeded"))
        #set($context.responseOverride.status = 503)
        {"message": "The stream is busy, retry later", "requestId": "$context.requestId"}
        #else
        {"message": "The event could not be stored", "requestId": "$context.requestId"}
        #end
      EOT
    }
    "503" = {
      selection_pattern = "5\\d{2}"
      template          = <<-EOT
        {"message": "The stream is unavailable, retry later", "requestId": "$context.requestId"}
      EOT
    }
  }

  # Every (stream, status) pair of the method and integration responses.
  stream_responses = {
    for pair in setproduct(local.stream_names, keys(local.integration_responses)) :
    "${pair[0]}/${pair[1]}" => { stream = pair[0], status = pair[1] }
  }
}

resource "aws_api_gateway_method_response" "post" {
  for_each = local.stream_responses

  rest_api_id = aws_api_gateway_rest_api.this.id
  resource_id = aws_api_gateway_resource.stream[each.value.stream].id
  http_method = aws_api_gateway_method.post[each.value.stream].http_method
  status_code = each.value.status
  response_models = {
    "application/json" = "Empty"
  }
}

resource "aws_api_gateway_integration_response" "kinesis" {
  for_each = local.stream_responses

  rest_api_id       = aws_api_gateway_rest_api.this.id
  resource_id       = aws_api_gateway_resource.stream[each.value.stream].id
  http_method       = aws_api_gateway_method.post[each.value.stream].http_method
  status_code       = aws_api_gateway_method_response.post[each.key].status_code
  selection_pattern = local.integration_responses[each.value.status].selection_pattern
  response_templates = {
    "application/json" = local.integration_responses[each.value.status].template
  }

  depends_on = [aws_api_gateway_integration.kinesis]
}

# ---- Gateway responses (errors API Gateway answers itself) -------------------------------------
# Gateway response templates are plain $context substitution (no VTL).

resource "aws_api_gateway_gateway_response" "not_found" {
  rest_api_id   = aws_api_gateway_rest_api.this.id
  response_type = "MISSING_AUTHENTICATION_TOKEN" # no such resource or method: an unknown stream
  status_code   = "404"
  response_templates = {
    "application/json" = "{\"message\": \"Not Found: POST /v1/{stream} with one of the System Two streams\", \"requestId\": \"$context.requestId\"}"
  }
}

resource "aws_api_gateway_gateway_response" "invalid_api_key" {
  rest_api_id   = aws_api_gateway_rest_api.this.id
  response_type = "INVALID_API_KEY" # a missing or unknown x-api-key header
  status_code   = "403"
  response_templates = {
    "application/json" = "{\"message\": \"Forbidden\", \"requestId\": \"$context.requestId\"}"
  }
}

resource "aws_api_gateway_gateway_response" "access_denied" {
  rest_api_id   = aws_api_gateway_rest_api.this.id
  response_type = "ACCESS_DENIED" # the resource policy refuses the caller
  status_code   = "403"
  response_templates = {
    "application/json" = "{\"message\": \"Forbidden\", \"requestId\": \"$context.requestId\"}"
  }
}

resource "aws_api_gateway_gateway_response" "bad_request_body" {
  rest_api_id   = aws_api_gateway_rest_api.this.id
  response_type = "BAD_REQUEST_BODY" # the body does not match the stream's model
  status_code   = "400"
  # The validator's details ($context.error.validationErrorString) contain unescaped quotes,
  # so they go to the access log (under this requestId), not into this JSON body.
  response_templates = {
    "application/json" = "{\"message\": $context.error.messageString, \"requestId\": \"$context.requestId\"}"
  }
}

# ---- Deployment and stage ---------------------------------------------------------------------

resource "aws_api_gateway_deployment" "this" {
  rest_api_id = aws_api_gateway_rest_api.this.id
  description = "System Two import API"

  # Redeploy whenever anything the stage serves changes (the whole resources are hashed, so a
  # changed template or schema counts, not only a changed id).
  triggers = {
    redeployment = sha1(jsonencode([
      aws_api_gateway_resource.v1,
      aws_api_gateway_resource.stream,
      aws_api_gateway_request_validator.body,
      aws_api_gateway_model.event,
      aws_api_gateway_method.post,
      aws_api_gateway_integration.kinesis,
      aws_api_gateway_method_response.post,
      aws_api_gateway_integration_response.kinesis,
      aws_api_gateway_gateway_response.not_found,
      aws_api_gateway_gateway_response.invalid_api_key,
      aws_api_gateway_gateway_response.bad_request_body,
      aws_api_gateway_gateway_response.access_denied,
      aws_api_gateway_rest_api_policy.this,
    ]))
  }

  lifecycle {
    create_before_destroy = true
  }

  depends_on = [
    aws_api_gateway_integration.kinesis,
    aws_api_gateway_integration_response.kinesis,
    aws_api_gateway_rest_api_policy.this,
  ]
}

resource "aws_cloudwatch_log_group" "api_access" {
  name              = local.api_access_log_group_name
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.this.arn
  tags              = local.tags
}

resource "aws_api_gateway_stage" "this" {
  #checkov:skip=CKV_AWS_120:Every method is a POST that stores an event; a cached response would drop events.
  #checkov:skip=CKV2_AWS_51:Client certificates authenticate API Gateway to HTTP back ends; this API's only back end is Kinesis, called with SigV4 through an IAM role.
  #checkov:skip=CKV2_AWS_29:WAF is opt-in (var.waf_web_acl_arn, associated below); every method requires SigV4 (AWS_IAM) from System Two's principals only, and the stage is throttled.
  #checkov:skip=CKV2_AWS_77:The WAF web ACL is opt-in and owned outside this module (var.waf_web_acl_arn), so its managed rule groups (Log4j included) are configured there; the integration passes the body to Kinesis as opaque base64 data without interpreting it.
  rest_api_id          = aws_api_gateway_rest_api.this.id
  deployment_id        = aws_api_gateway_deployment.this.id
  stage_name           = var.api_stage_name
  description          = "System Two import API (${var.environment})"
  xray_tracing_enabled = true

  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.api_access.arn
    format = jsonencode({
      requestId          = "$context.requestId"
      extendedRequestId  = "$context.extendedRequestId"
      requestTime        = "$context.requestTime"
      sourceIp           = "$context.identity.sourceIp"
      userAgent          = "$context.identity.userAgent"
      apiKeyId           = "$context.identity.apiKeyId"
      userArn            = "$context.identity.userArn"
      httpMethod         = "$context.httpMethod"
      path               = "$context.path"
      resourcePath       = "$context.resourcePath"
      status             = "$context.status"
      responseLength     = "$context.responseLength"
      responseLatency    = "$context.responseLatency"
      errorType          = "$context.error.responseType"
      errorMessage       = "$context.error.message"
      validationError    = "$context.error.validationErrorString"
      integrationStatus  = "$context.integration.status"
      integrationError   = "$context.integration.error"
      integrationLatency = "$context.integration.latency"
      xrayTraceId        = "$context.xrayTraceId"
    })
  }

  tags = local.tags

  depends_on = [aws_api_gateway_account.this]
}

resource "aws_api_gateway_method_settings" "all" {
  #checkov:skip=CKV_AWS_225:Every method is a POST that stores an event; caching responses would drop events.
  rest_api_id = aws_api_gateway_rest_api.this.id
  stage_name  = aws_api_gateway_stage.this.stage_name
  method_path = "*/*"

  settings {
    metrics_enabled        = true
    logging_level          = var.api_logging_level
    data_trace_enabled     = false # never log event bodies (customer data)
    throttling_rate_limit  = var.api_throttle_rate_limit
    throttling_burst_limit = var.api_throttle_burst_limit
    caching_enabled        = false
    cache_data_encrypted   = true
  }
}

resource "aws_wafv2_web_acl_association" "api" {
  count = var.waf_web_acl_arn == null ? 0 : 1

  resource_arn = aws_api_gateway_stage.this.arn
  web_acl_arn  = var.waf_web_acl_arn
}

# ---- System Two's usage plan (throttling, optional quota), tied to it by an API key -------------
# Not authentication (that is SigV4 and the resource policy above): the key only selects the plan.

resource "aws_api_gateway_api_key" "system_two" {
  name        = "${local.name_prefix}-system-two"
  description = "System Two's key for the ${var.environment} import API (header x-api-key)"
  enabled     = true
  tags        = local.tags
}

resource "aws_api_gateway_usage_plan" "system_two" {
  name        = "${local.name_prefix}-system-two"
  description = "System Two: throttling (and optional daily quota) of the ${var.environment} import API"

  api_stages {
    api_id = aws_api_gateway_rest_api.this.id
    stage  = aws_api_gateway_stage.this.stage_name
  }

  throttle_settings {
    rate_limit  = var.api_throttle_rate_limit
    burst_limit = var.api_throttle_burst_limit
  }

  dynamic "quota_settings" {
    for_each = var.api_quota_per_day == null ? [] : [var.api_quota_per_day]
    content {
      limit  = quota_settings.value
      period = "DAY"
    }
  }

  tags = local.tags
}

resource "aws_api_gateway_usage_plan_key" "system_two" {
  key_id        = aws_api_gateway_api_key.system_two.id
  key_type      = "API_KEY"
  usage_plan_id = aws_api_gateway_usage_plan.system_two.id
}
