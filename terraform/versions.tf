terraform {
  # 1.11: write-only arguments (secret_string_wo), so generated secrets never reach state.
  required_version = ">= 1.11.0"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # Checked against 5.100 (ephemeral aws_secretsmanager_random_password, secret_string_wo,
      # password_wo); 6.x changes region handling and is not yet validated here.
      version = ">= 5.100.0, < 6.0.0"
    }
  }
}

provider "aws" {
  region = var.region

  default_tags {
    tags = merge(var.tags, {
      Project     = var.project
      Environment = var.environment
      ManagedBy   = "terraform"
    })
  }
}
