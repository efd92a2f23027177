// How a client proves who it is to NATS and checks the servers: TLS (a CA to trust,
// and a certificate and key for mutual TLS), a user and password, a credentials file
// (JWT + nkey seed), or an nkey with its seed file. Empty fields are unused.
#pragma once

#include <string>

namespace pricing {

struct NatsAuth {
  std::string ca_file;    // PEM CA bundle the servers' certificates must chain to
  std::string cert_file;  // client certificate (mutual TLS), with key_file
  std::string key_file;
  std::string user;
  std::string password;
  std::string creds_file;      // a .creds file (JWT and nkey seed)
  std::string nkey;            // an nkey public key (U...), with nkey_seed_file
  std::string nkey_seed_file;  // the file holding its seed

  bool tls() const { return !ca_file.empty() || !cert_file.empty(); }
};

}  // namespace pricing
