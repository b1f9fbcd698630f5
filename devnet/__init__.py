"""A local TRON network and energy-provider sandbox that real tronpy and HTTP clients talk to."""
