terraform {
  required_version = ">= 1.5"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.0"
    }
  }

  # Keep the state remotely (and locked) for a real environment, e.g.:
  # backend "s3" {
  #   bucket         = "<state bucket>"
  #   key            = "erp-ingest/<environment>.tfstate"
  #   region         = "<region>"
  #   dynamodb_table = "<lock table>"
  #   encrypt        = true
  # }
}
