# The root module's own inputs: where the backends are and how to log in
# (the site's own inputs are in site.tf, shared with examples/modules/site).

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
  description = "A node of the cluster (written by homelab-sim; unused here: var.nodes places the VMs)."
  type        = string
  default     = null
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
