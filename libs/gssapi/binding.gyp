{
  "targets": [
    {
      "target_name": "postern_gssapi",
      "sources": ["native/acceptor.c"],
      "cflags": ["-Wall", "-Wextra", "-Werror"],
      "libraries": ["-lgssapi_krb5"]
    }
  ]
}
