/** Bundled self-signed certificate (P-256, CN=sra-simulator.local, SAN localhost, sra-simulator.local, *.sra-simulator.local, 127.0.0.1, ::1; valid 2020-2120) for the HTTPS listeners. For tests and demos only: this key is public. */
export const defaultCertPem = `-----BEGIN CERTIFICATE-----
MIICHTCCAcOgAwIBAgIBATAKBggqhkjOPQQDAjA+MRwwGgYDVQQDDBNzcmEtc2lt
dWxhdG9yLmxvY2FsMR4wHAYDVQQKDBVzcmEtdXBncmFkZSBzaW11bGF0b3IwIBcN
MjAwMTAxMDAwMDAwWhgPMjEyMDAxMDEwMDAwMDBaMD4xHDAaBgNVBAMME3NyYS1z
aW11bGF0b3IubG9jYWwxHjAcBgNVBAoMFXNyYS11cGdyYWRlIHNpbXVsYXRvcjBZ
MBMGByqGSM49AgEGCCqGSM49AwEHA0IABJ1Dawk5H1GxOuWfl0hg6ZUeQChtjcLg
0nji1LtFGcz0LvGFotUVmbHaXzhBkiOEAEqnIkEBQ5VNQtjKg+iQa9qjga8wgaww
WAYDVR0RBFEwT4IJbG9jYWxob3N0ghNzcmEtc2ltdWxhdG9yLmxvY2FsghUqLnNy
YS1zaW11bGF0b3IubG9jYWyHBH8AAAGHEAAAAAAAAAAAAAAAAAAAAAEwDAYDVR0T
AQH/BAIwADAOBgNVHQ8BAf8EBAMCB4AwEwYDVR0lBAwwCgYIKwYBBQUHAwEwHQYD
VR0OBBYEFOKKiJ3ctTnu7l+hB0lnIzbY9XNMMAoGCCqGSM49BAMCA0gAMEUCIFsX
NKX+XenmjG4nLI3eTjpSVKaLYB4tfLDh+yFOYrkpAiEA5+myZrnhaNSAYKgG/gMj
Teb7Ho3GdVwmXmCDEoLaWZg=
-----END CERTIFICATE-----
`

/** The bundled private key (public knowledge: never use it outside the simulator). */
export const defaultKeyPem = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgeEdpKvZ/mNCaU/FF
DLpE5XLvGB4LAE4JNlOo9qpL3YKhRANCAASdQ2sJOR9RsTrln5dIYOmVHkAobY3C
4NJ44tS7RRnM9C7xhaLVFZmx2l84QZIjhABKpyJBAUOVTULYyoPokGva
-----END PRIVATE KEY-----
`
