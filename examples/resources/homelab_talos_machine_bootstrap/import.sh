# Record a cluster bootstrapped elsewhere: the ID is the node's address.
terraform import homelab_talos_machine_bootstrap.lab 10.0.20.11
