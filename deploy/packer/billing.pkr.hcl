# AMI for the billing instances: Amazon Linux 2023 (x86_64) with Python 3.11, the application's
# dependencies pre-installed in /opt/billing/venv (from the release bundle's wheelhouse, so a
# new instance only installs the billing wheel itself), rsyslog, the CloudWatch agent, the
# CodeDeploy agent (left disabled: the launch template's user data starts it) and the RDS CA bundle.
#
#   make release-bundle
#   packer init deploy/packer
#   packer build -var region=eu-west-1 -var subnet_id=subnet-... \
#     -var kms_key_id=arn:aws:kms:eu-west-1:111111111111:key/... \
#     -var 'ami_users=["222222222222","333333333333"]' deploy/packer
#
# The build instance needs internet access (a public subnet of the network stack) and the
# caller's credentials need the usual Packer EC2 permissions plus use of the KMS key.
#
# Sharing (deploy/README.md, "One AMI for several accounts"): the AMI and its snapshots are
# shared with the accounts of ami_users and no one else. Its volumes are encrypted with the
# customer-managed key kms_key_id (stack deploy/cloudformation/ami-key.yaml), whose key policy
# lets those accounts use it: the AWS-managed aws/ebs key cannot be used by another account.

packer {
  required_version = ">= 1.10.0"
  required_plugins {
    amazon = {
      version = ">= 1.3.0"
      source  = "github.com/hashicorp/amazon"
    }
  }
}

variable "region" {
  type        = string
  description = "Region to build the AMI in (the region of the stacks)."
}

variable "subnet_id" {
  type        = string
  description = "Public subnet for the build instance (e.g. one of the network stack's public subnets)."
}

variable "instance_type" {
  type        = string
  default     = "t3.small"
  description = "Build instance type (x86_64)."
}

variable "release_bundle" {
  type        = string
  default     = "deploy/dist/billing-release.tgz"
  description = "Release bundle whose wheelhouse provides the pre-installed dependencies (make release-bundle)."
}

variable "kms_key_id" {
  type        = string
  description = "ARN of the customer-managed KMS key that encrypts the AMI's volumes (output AmiKeyArn of deploy/cloudformation/ami-key.yaml). A key ARN, never an alias: alias/aws/ebs, the AWS-managed key, cannot be shared with another account."

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/(mrk-)?[0-9a-f-]+$", var.kms_key_id))
    error_message = "The kms_key_id must be the ARN of a customer-managed KMS key (arn:aws:kms:REGION:ACCOUNT:key/ID), not an alias."
  }
}

variable "ami_users" {
  type        = list(string)
  default     = []
  description = "AWS account ids (12 digits each) allowed to launch the AMI and create volumes from its snapshots; empty shares with no one. The key policy of kms_key_id must let the same accounts use the key."

  validation {
    condition     = alltrue([for id in var.ami_users : can(regex("^[0-9]{12}$", id))])
    error_message = "Each ami_users entry must be an AWS account id of exactly 12 digits (no dashes, spaces or letters)."
  }
}

variable "ami_name_prefix" {
  type        = string
  default     = "billing"
  description = "AMI names are <prefix>-<UTC timestamp>."
}

locals {
  build_time = formatdate("YYYYMMDDhhmmss", timestamp())
}

source "amazon-ebs" "al2023" {
  region                                    = var.region
  instance_type                             = var.instance_type
  subnet_id                                 = var.subnet_id
  associate_public_ip_address               = true
  temporary_security_group_source_public_ip = true
  ssh_username                              = "ec2-user"
  ami_name                                  = "${var.ami_name_prefix}-${local.build_time}"
  ami_description                           = "billing runtime: AL2023, Python 3.11, CloudWatch and CodeDeploy agents"
  imds_support                              = "v2.0"

  # Launch permission and createVolumePermission for these accounts only: no ami_groups
  # (that would make it public), no organisations.
  ami_users      = var.ami_users
  snapshot_users = var.ami_users

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  source_ami_filter {
    filters = {
      name                  = "al2023-ami-2023.*-kernel-6.*-x86_64"
      architecture          = "x86_64"
      "virtualization-type" = "hvm"
      "root-device-type"    = "ebs"
    }
    owners      = ["amazon"]
    most_recent = true
  }

  # The build volume, hence the AMI's snapshot, is encrypted with the shareable key from the
  # start; encrypt_boot would add a re-encrypting copy of the finished image, minutes for nothing.
  launch_block_device_mappings {
    device_name           = "/dev/xvda"
    volume_size           = 20
    volume_type           = "gp3"
    encrypted             = true
    kms_key_id            = var.kms_key_id
    delete_on_termination = true
  }

  tags = {
    Name        = "${var.ami_name_prefix}-${local.build_time}"
    Application = "billing"
    BaseAMI     = "{{ .SourceAMI }}"
  }
}

build {
  sources = ["source.amazon-ebs.al2023"]

  provisioner "file" {
    source      = var.release_bundle
    destination = "/tmp/billing-release.tgz"
  }

  provisioner "shell" {
    script           = "${path.root}/provision.sh"
    environment_vars = ["AWS_REGION=${var.region}", "RELEASE_BUNDLE=/tmp/billing-release.tgz"]
    execute_command  = "sudo -E bash '{{ .Path }}'"
  }

  post-processor "manifest" {
    output     = "deploy/dist/packer-manifest.json"
    strip_path = true
  }
}
