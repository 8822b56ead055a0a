variable "lab_domain" {
  description = "The lab's internal DNS zone."
  type        = string
  default     = "lab.home.arpa"
}

variable "technitium_url" {
  description = "Technitium DNS Server URL; null falls back to TECHNITIUM_URL."
  type        = string
  default     = null
}

variable "technitium_token" {
  description = "Technitium API token; null falls back to TECHNITIUM_TOKEN."
  type        = string
  default     = null
  sensitive   = true
}

variable "technitium_zone" {
  description = "A zone that already exists on the server (written by homelab-sim; unused here)."
  type        = string
  default     = null
}

variable "cloudflare_api_token" {
  description = "Cloudflare API token; null falls back to CLOUDFLARE_API_TOKEN."
  type        = string
  default     = null
  sensitive   = true
}

variable "cloudflare_base_url" {
  description = "Cloudflare API base URL; null falls back to CLOUDFLARE_BASE_URL, then the real API."
  type        = string
  default     = null
}

variable "cloudflare_zone_id" {
  description = "Id of the public zone."
  type        = string
}

variable "cloudflare_zone_name" {
  description = "Name of the public zone."
  type        = string
}

variable "proxmox_endpoint" {
  description = "Proxmox VE API URL; null falls back to PROXMOX_VE_ENDPOINT."
  type        = string
  default     = null
}

variable "proxmox_api_token" {
  description = "Proxmox VE API token; null falls back to PROXMOX_VE_API_TOKEN."
  type        = string
  default     = null
  sensitive   = true
}

variable "proxmox_node" {
  description = "The node the lab's VMs run on."
  type        = string
  default     = "pve1"
}

variable "proxmox_template_vmid" {
  description = "A template that already exists (written by homelab-sim; unused here)."
  type        = number
  default     = null
}

variable "proxmox_cloud_image" {
  description = "A cloud image that already exists (written by homelab-sim; unused here)."
  type        = string
  default     = null
}

variable "edge" {
  description = "The lab's edge router: \"routeros\" (MikroTik) or \"pfsense\" (edge.tf)."
  type        = string
  default     = "routeros"
  nullable    = false

  validation {
    condition     = contains(["routeros", "pfsense"], var.edge)
    error_message = "The edge must be \"routeros\" or \"pfsense\"."
  }
}

variable "routeros_url" {
  description = "RouterOS REST URL, e.g. https://router.lan; null falls back to ROS_HOSTURL."
  type        = string
  default     = null
}

variable "routeros_username" {
  description = "RouterOS user (group write or full); null falls back to ROS_USERNAME."
  type        = string
  default     = null
}

variable "routeros_password" {
  description = "RouterOS password; null falls back to ROS_PASSWORD."
  type        = string
  default     = null
  sensitive   = true
}

variable "routeros_ca_certificate" {
  description = "CA certificate (PEM text or a file's path) of the router's HTTPS certificate; null falls back to ROS_CA_CERTIFICATE."
  type        = string
  default     = null
}

variable "pfsense_url" {
  description = "pfSense web interface URL, e.g. https://pfsense.lan; null falls back to PFSENSE_URL."
  type        = string
  default     = null
}

variable "pfsense_api_key" {
  description = "pfSense-pkg-RESTAPI key (KeyAuth enabled); null falls back to PFSENSE_API_KEY, then username and password."
  type        = string
  default     = null
  sensitive   = true
}

variable "pfsense_username" {
  description = "pfSense user with the REST API's privileges; null falls back to PFSENSE_USERNAME."
  type        = string
  default     = null
}

variable "pfsense_password" {
  description = "pfSense password; null falls back to PFSENSE_PASSWORD."
  type        = string
  default     = null
  sensitive   = true
}

variable "pfsense_ca_certificate" {
  description = "CA certificate (PEM text or a file's path) of pfSense's HTTPS certificate; null falls back to PFSENSE_CA_CERTIFICATE."
  type        = string
  default     = null
}

variable "pfsense_interfaces" {
  description = <<-EOT
    The pfSense interface (as its REST API names it: by description unless
    represent_interfaces_as says otherwise) that each of the lab's networks
    comes in on, and the WAN. Networks may share an interface (every rule
    matches its network by source); the WAN may not.
  EOT
  type = object({
    wan        = string
    management = string
    cluster    = string
    home       = string
    wireguard  = string
  })
  default = {
    wan        = "WAN"
    management = "MGMT"
    cluster    = "CLUSTER"
    home       = "HOME"
    wireguard  = "WG" # the WireGuard tunnel, assigned as an interface
  }

  validation {
    condition     = length([for name, interface in var.pfsense_interfaces : name if interface == var.pfsense_interfaces.wan]) == 1
    error_message = "The WAN's interface cannot also be a lab network's: its rules match traffic from anywhere."
  }
}

variable "talos_nodes" {
  description = <<-EOT
    Talos API endpoints of the cluster's nodes by name (`10.0.20.21` or
    `host:port`; port 50000 by default): names starting with `cp` are control
    plane nodes, the others workers. Nodes in maintenance mode get their
    configuration installed. Written by homelab-sim; empty: secrets and
    configurations only.
  EOT
  type        = map(string)
  default     = {}
  nullable    = false
}
