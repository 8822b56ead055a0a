# Import the secrets of an existing cluster from the file `talosctl gen secrets` wrote.
terraform import homelab_talos_machine_secrets.lab ./secrets.yaml
