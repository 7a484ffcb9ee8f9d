# AMI for the billing instances: Amazon Linux 2023 (x86_64) with Python 3.11, the application's
# dependencies pre-installed in /opt/billing/venv (from the release bundle's wheelhouse, so a
# new instance only installs the billing wheel itself), rsyslog, the CloudWatch agent, the
# CodeDeploy agent (left disabled: the launch template's user data starts it) and the RDS CA bundle.
#
#   make release-bundle
#   packer init deploy/packer
#   packer build -var region=eu-west-1 -var subnet_id=subnet-... deploy/packer
#
# The build instance needs internet access (a public subnet of the network stack) and the
# caller's credentials need the usual Packer EC2 permissions.

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
  encrypt_boot                              = true
  imds_support                              = "v2.0"

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

  launch_block_device_mappings {
    device_name           = "/dev/xvda"
    volume_size           = 20
    volume_type           = "gp3"
    encrypted             = true
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
