provider "aws" {
  region = var.region

  default_tags {
    tags = merge(var.tags, {
      "erp-ingest:managed-by" = "terraform"
    })
  }
}
