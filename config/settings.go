package config

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/dsrengine/dsr/keyring"
	"github.com/dsrengine/dsr/keyring/vault"
)

// Settings are the worker's process settings. Each comes from a flag or,
// when the flag is not given, from its environment variable. Secrets
// (the master key, the Temporal API key) come only from the environment or
// a file, never from a flag that `ps` would show.
type Settings struct {
	TemporalAddress string
	Namespace       string
	TLSCert         string
	TLSKey          string
	TLSCA           string
	TLSServerName   string
	APIKey          string
	DatabaseURL     string
	ConfigFile      string
	MasterKeyFile   string
	// MasterKeyWrappedFile holds the master key encrypted by a KMS (Vault
	// transit: VaultAddr, VaultTransitKey, and the token from
	// DSR_VAULT_TOKEN or VaultTokenFile), decrypted at each start.
	MasterKeyWrappedFile string
	VaultAddr            string
	VaultNamespace       string
	VaultMount           string
	VaultTransitKey      string
	VaultTokenFile       string
	vaultToken           string
	// WrapKeyFile is the key that wraps the subjects' data keys, when it is
	// not derived from the master key: it can be rotated (worker keys rotate).
	WrapKeyFile string
	GatewayAddr string
	ExportDir   string
	LogLevel    string
	// Slack, all optional: without a bot token notices go to the log and
	// the console's inbox only.
	SlackBotToken      string
	SlackSigningSecret string
	SlackAppToken      string
	// OpenDSR: the processor's RSA key and certificate (PEM files) and the
	// gateway's public URL; without a key the endpoints are off.
	OpenDSRKeyFile  string
	OpenDSRCertFile string
	PublicURL       string
	// CodecOrigins are the Web UI's origins (comma-separated) for which the
	// gateway serves the codec endpoint to auditors and admins.
	CodecOrigins string
	// TrustedProxies are the networks (comma-separated CIDRs or addresses)
	// of the load balancers in front of the gateway, whose X-Forwarded-For
	// the public form's rate limit believes.
	TrustedProxies string
	// CallbackGiveUp is how long an OpenDSR callback is retried before it
	// is given up (a duration such as 24h; default 24h).
	CallbackGiveUp string
	// WorkflowCache is how many requests the worker keeps in memory between
	// their steps (default 1000). A request out of the cache is rebuilt
	// from its history when it next moves, so a smaller cache trades CPU
	// for memory; each cached request costs about 80 KB.
	WorkflowCache string
	// Role is what this process runs: "all" (the worker and the gateway,
	// one process), "worker" (workflows and activities; the gateway
	// address serves only /healthz) or "gateway" (the API, console, Slack,
	// OpenDSR and the background loops; no system is connected). Workers
	// scale on their own that way, behind one or two gateways.
	Role string

	masterKey []byte
	fields    []field
	lookup    func(string) (string, bool)
}

// The process roles of Settings.Role.
const (
	RoleAll     = "all"
	RoleWorker  = "worker"
	RoleGateway = "gateway"
)

type field struct {
	flag, env string
	ptr       *string
	check     func(string) error
	secret    bool
}

// Bind registers the settings' flags on fs, defaulting from the environment.
func (s *Settings) Bind(fs *flag.FlagSet) { s.BindEnv(fs, os.LookupEnv) }

// BindEnv is Bind with the environment read through lookup, so that a
// check can run on exactly the variables a deployment file gives.
func (s *Settings) BindEnv(fs *flag.FlagSet, lookup func(string) (string, bool)) {
	s.lookup = lookup
	s.fields = []field{
		{"temporal-address", "DSR_TEMPORAL_ADDRESS", &s.TemporalAddress, checkHostPort, false},
		{"namespace", "DSR_NAMESPACE", &s.Namespace, checkNamespace, false},
		{"tls-cert", "DSR_TEMPORAL_TLS_CERT", &s.TLSCert, checkFile, false},
		{"tls-key", "DSR_TEMPORAL_TLS_KEY", &s.TLSKey, checkFile, false},
		{"tls-ca", "DSR_TEMPORAL_TLS_CA", &s.TLSCA, checkFile, false},
		{"tls-server-name", "DSR_TEMPORAL_TLS_SERVER_NAME", &s.TLSServerName, nil, false},
		{"", "DSR_TEMPORAL_API_KEY", &s.APIKey, nil, true},
		{"database-url", "DATABASE_URL", &s.DatabaseURL, checkDatabaseURL, false},
		{"config", "DSR_CONFIG", &s.ConfigFile, checkFile, false},
		{"master-key-file", "DSR_MASTER_KEY_FILE", &s.MasterKeyFile, checkFile, false},
		{"master-key-wrapped-file", "DSR_MASTER_KEY_WRAPPED_FILE", &s.MasterKeyWrappedFile, checkFile, false},
		{"vault-addr", "DSR_VAULT_ADDR", &s.VaultAddr, nil, false}, // checked by KMS, for every command that uses it
		{"vault-namespace", "DSR_VAULT_NAMESPACE", &s.VaultNamespace, nil, false},
		{"vault-transit-mount", "DSR_VAULT_TRANSIT_MOUNT", &s.VaultMount, nil, false},
		{"vault-transit-key", "DSR_VAULT_TRANSIT_KEY", &s.VaultTransitKey, nil, false},
		{"vault-token-file", "DSR_VAULT_TOKEN_FILE", &s.VaultTokenFile, checkFile, false},
		{"", "DSR_VAULT_TOKEN", &s.vaultToken, nil, true},
		{"wrap-key-file", "DSR_WRAP_KEY_FILE", &s.WrapKeyFile, checkWrapKey, false},
		{"gateway-addr", "DSR_GATEWAY_ADDR", &s.GatewayAddr, checkHostPort, false},
		{"export-dir", "DSR_EXPORT_DIR", &s.ExportDir, checkDir, false},
		{"log-level", "DSR_LOG_LEVEL", &s.LogLevel, checkLogLevel, false},
		{"", "DSR_SLACK_BOT_TOKEN", &s.SlackBotToken, nil, true},
		{"", "DSR_SLACK_SIGNING_SECRET", &s.SlackSigningSecret, nil, true},
		{"", "DSR_SLACK_APP_TOKEN", &s.SlackAppToken, nil, true},
		{"opendsr-key", "DSR_OPENDSR_KEY_FILE", &s.OpenDSRKeyFile, checkFile, false},
		{"opendsr-cert", "DSR_OPENDSR_CERT_FILE", &s.OpenDSRCertFile, checkFile, false},
		{"public-url", "DSR_PUBLIC_URL", &s.PublicURL, checkPublicURL, false},
		{"codec-origins", "DSR_CODEC_ORIGINS", &s.CodecOrigins, checkOrigins, false},
		{"trusted-proxies", "DSR_TRUSTED_PROXIES", &s.TrustedProxies, checkNetworks, false},
		{"callback-give-up", "DSR_CALLBACK_GIVE_UP", &s.CallbackGiveUp, checkGiveUp, false},
		{"workflow-cache", "DSR_WORKFLOW_CACHE", &s.WorkflowCache, checkCacheSize, false},
		{"role", "DSR_ROLE", &s.Role, checkRole, false},
	}
	defaults := map[string]string{
		"temporal-address": "127.0.0.1:7233", "namespace": "dsr", "gateway-addr": "127.0.0.1:8080", "log-level": "info",
		"callback-give-up": "24h", "workflow-cache": "1000", "role": RoleAll,
	}
	usage := map[string]string{
		"temporal-address":        "Temporal frontend host:port",
		"namespace":               "Temporal namespace of the engine",
		"tls-cert":                "client certificate for Temporal mTLS (PEM file)",
		"tls-key":                 "client key for Temporal mTLS (PEM file)",
		"tls-ca":                  "CA bundle that signed the Temporal server certificate",
		"tls-server-name":         "server name to verify in the Temporal certificate",
		"database-url":            "engine store: postgres://user:pass@host/db (required)",
		"config":                  "data map YAML file (required)",
		"master-key-file":         "file holding the base64 master key; or set DSR_MASTER_KEY, or --master-key-wrapped-file",
		"master-key-wrapped-file": "file holding the master key encrypted by Vault's transit engine (worker kms wrap); decrypted at each start",
		"vault-addr":              "Vault's URL, for --master-key-wrapped-file (e.g. https://vault.internal:8200)",
		"vault-namespace":         "Vault Enterprise or HCP namespace",
		"vault-transit-mount":     "mount of Vault's transit engine (default transit)",
		"vault-transit-key":       "name of the transit key that wraps the master key",
		"vault-token-file":        "file holding the Vault token (e.g. written by Vault Agent); or set DSR_VAULT_TOKEN",
		"wrap-key-file":           "file holding the base64 key that wraps the subjects' data keys (rotate with: worker keys rotate --from OLD); default: derived from the master key",
		"gateway-addr":            "host:port of the HTTP gateway",
		"export-dir":              "directory for access exports and packages, kept by reference (required)",
		"log-level":               "debug, info, warn or error",
		"opendsr-key":             "OpenDSR processor's RSA private key (PEM); enables the OpenDSR endpoints",
		"opendsr-cert":            "OpenDSR processor's certificate (PEM), served to controllers",
		"public-url":              "https URL at which controllers and Slack reach the gateway",
		"codec-origins":           "Temporal Web UI origins (comma-separated, e.g. https://temporal-ui.example.com); serves /codec/ to auditors and admins",
		"trusted-proxies":         "networks of the load balancers in front of the gateway (comma-separated CIDRs, e.g. 10.0.0.0/8); their X-Forwarded-For names the client",
		"workflow-cache":          "how many requests the worker keeps in memory between their steps (about 80 KB each)",
		"callback-give-up":        "how long an OpenDSR callback is retried before it is given up (e.g. 24h, 72h)",
		"role":                    "what this process runs: all, worker (workflows and activities; the gateway address serves /healthz only) or gateway (API, console, Slack, OpenDSR; no system connected)",
	}
	for _, f := range s.fields {
		if f.flag == "" {
			*f.ptr = s.Getenv(f.env)
			continue
		}
		def := defaults[f.flag]
		if v, ok := lookup(f.env); ok {
			def = v
		}
		fs.StringVar(f.ptr, f.flag, def, fmt.Sprintf("%s (env %s)", usage[f.flag], f.env))
	}
}

// Validate checks every setting and returns all problems at once, each
// naming its flag and environment variable.
func (s *Settings) Validate() error {
	var errs []error
	name := func(f field) string {
		if f.flag == "" {
			return f.env
		}
		return fmt.Sprintf("--%s (%s)", f.flag, f.env)
	}
	for _, f := range s.fields {
		if f.check == nil || *f.ptr == "" {
			continue
		}
		if err := f.check(*f.ptr); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name(f), err))
		}
	}
	if s.DatabaseURL == "" {
		errs = append(errs, errors.New("--database-url (DATABASE_URL): required; e.g. postgres://dsr@db:5432/dsr?sslmode=require"))
	}
	if s.ExportDir == "" {
		errs = append(errs, errors.New("--export-dir (DSR_EXPORT_DIR): required: where access packages are written (encrypted storage recommended)"))
	}
	if s.ConfigFile == "" {
		errs = append(errs, errors.New("--config (DSR_CONFIG): required: the data map YAML file"))
	}
	if (s.OpenDSRKeyFile == "") != (s.OpenDSRCertFile == "") {
		errs = append(errs, errors.New("--opendsr-key (DSR_OPENDSR_KEY_FILE) and --opendsr-cert (DSR_OPENDSR_CERT_FILE): give both or neither"))
	}
	if (s.TLSCert == "") != (s.TLSKey == "") {
		errs = append(errs, errors.New("--tls-cert and --tls-key (DSR_TEMPORAL_TLS_CERT, DSR_TEMPORAL_TLS_KEY): give both or neither"))
	}
	if s.MasterKeyWrappedFile != "" {
		// Decrypted at start, by LoadMasterKey: validation connects to nothing.
		if _, err := s.wrappedKMS(); err != nil {
			errs = append(errs, err)
		}
	} else {
		k, err := MasterKey(s.Getenv("DSR_MASTER_KEY"), s.MasterKeyFile)
		if err != nil {
			errs = append(errs, err)
		}
		s.masterKey = k
	}
	return errors.Join(errs...)
}

// wrappedKMS is the KMS of a wrapped master key, once it is checked to
// come alone and with what decrypting it needs.
func (s *Settings) wrappedKMS() (keyring.KMS, error) {
	var errs []error
	if s.Getenv("DSR_MASTER_KEY") != "" || s.MasterKeyFile != "" {
		errs = append(errs, errors.New("--master-key-wrapped-file (DSR_MASTER_KEY_WRAPPED_FILE): give one master key, not it and DSR_MASTER_KEY or --master-key-file"))
	}
	kms, err := s.KMS()
	if err != nil {
		errs = append(errs, fmt.Errorf("--master-key-wrapped-file (DSR_MASTER_KEY_WRAPPED_FILE): %w", err))
	}
	return kms, errors.Join(errs...)
}

// KMS is Vault's transit engine as the settings name it; the error says
// what is missing.
func (s *Settings) KMS() (keyring.KMS, error) {
	if s.VaultAddr == "" || s.VaultTransitKey == "" {
		return nil, errors.New("needs --vault-addr (DSR_VAULT_ADDR) and --vault-transit-key (DSR_VAULT_TRANSIT_KEY)")
	}
	if err := checkVaultAddr(s.VaultAddr); err != nil {
		return nil, fmt.Errorf("--vault-addr (DSR_VAULT_ADDR): %w", err)
	}
	if (s.vaultToken == "") == (s.VaultTokenFile == "") {
		return nil, errors.New("needs exactly one of DSR_VAULT_TOKEN and --vault-token-file (DSR_VAULT_TOKEN_FILE): the token that may use the transit key")
	}
	token := s.vaultToken
	if s.VaultTokenFile != "" {
		b, err := os.ReadFile(s.VaultTokenFile)
		if err != nil {
			return nil, fmt.Errorf("--vault-token-file (DSR_VAULT_TOKEN_FILE): %w", err)
		}
		token = strings.TrimSpace(string(b))
	}
	return vault.Transit{Addr: s.VaultAddr, Token: token, Namespace: s.VaultNamespace, Mount: s.VaultMount, Key: s.VaultTransitKey}, nil
}

// LoadMasterKey is the master key, decrypting a wrapped one with the KMS:
// the only setting that connects anywhere, so it runs at start, after
// Validate, and not in a check.
func (s *Settings) LoadMasterKey(ctx context.Context) ([]byte, error) {
	if s.masterKey != nil {
		return s.masterKey, nil
	}
	if s.MasterKeyWrappedFile == "" {
		k, err := MasterKey(s.Getenv("DSR_MASTER_KEY"), s.MasterKeyFile)
		s.masterKey = k
		return k, err
	}
	kms, err := s.wrappedKMS()
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(s.MasterKeyWrappedFile)
	if err != nil {
		return nil, fmt.Errorf("--master-key-wrapped-file (DSR_MASTER_KEY_WRAPPED_FILE): %w", err)
	}
	if s.masterKey, err = keyring.UnwrapMasterKey(ctx, kms, s.MasterKeyWrappedFile, b); err != nil {
		return nil, fmt.Errorf("--master-key-wrapped-file (DSR_MASTER_KEY_WRAPPED_FILE): %w", err)
	}
	return s.masterKey, nil
}

func checkVaultAddr(v string) error {
	u, err := url.Parse(v)
	if err != nil || u.Host == "" || u.Scheme != "https" && u.Scheme != "http" {
		return fmt.Errorf("%q is not Vault's URL (https://host:8200)", v)
	}
	// The token goes out and the master key comes back: plain http only
	// to a Vault Agent on this machine.
	if u.Scheme != "https" && !loopbackHTTP(u) {
		return fmt.Errorf("%q must be https:// (http only to a Vault Agent on localhost): the master key travels on it", v)
	}
	return nil
}

// Getenv reads a variable from the environment the settings were bound
// to (the process's, unless BindEnv was given another).
func (s *Settings) Getenv(name string) string {
	if s.lookup == nil {
		return os.Getenv(name)
	}
	v, _ := s.lookup(name)
	return v
}

func checkRole(v string) error {
	switch v {
	case RoleAll, RoleWorker, RoleGateway:
		return nil
	}
	return fmt.Errorf("%q is not a role: all, worker or gateway", v)
}

// MasterKey reads the master key from DSR_MASTER_KEY's value (env) or
// from a file, exactly one of them; the error names which is wrong.
func MasterKey(env, file string) ([]byte, error) {
	switch {
	case env != "" && file != "":
		return nil, errors.New("DSR_MASTER_KEY and --master-key-file (DSR_MASTER_KEY_FILE): give one, not both")
	case env != "":
		k, err := keyring.ParseMasterKey(env)
		if err != nil {
			return nil, fmt.Errorf("DSR_MASTER_KEY: %w", err)
		}
		return k, nil
	case file != "":
		b, err := os.ReadFile(file)
		if err == nil {
			var k []byte
			if k, err = keyring.ReadKey(file, b); err == nil {
				return k, nil
			}
		}
		return nil, fmt.Errorf("--master-key-file (DSR_MASTER_KEY_FILE): %w", err)
	}
	return nil, errors.New("DSR_MASTER_KEY or --master-key-file (DSR_MASTER_KEY_FILE), or a KMS-wrapped key (--master-key-wrapped-file): required: the base64 key that encrypts identities and workflow payloads (openssl rand -base64 32)")
}

// CacheSize is the number of requests the worker keeps in memory; valid
// after Validate succeeded.
func (s *Settings) CacheSize() int {
	n, err := strconv.Atoi(s.WorkflowCache)
	if err != nil {
		return 1000
	}
	return n
}

func checkCacheSize(v string) error {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 1_000_000 {
		return fmt.Errorf("%q is not a number of requests from 1 to 1000000", v)
	}
	return nil
}

// MasterKey is the decoded key; valid after Validate succeeded, or with a
// wrapped key after LoadMasterKey.
func (s *Settings) MasterKey() []byte { return s.masterKey }

// Keyring is the engine's keyring: the master key's (decrypted by the KMS
// when it is wrapped), with the wrapping key of DSR_WRAP_KEY_FILE when
// set. Valid after Validate succeeded.
func (s *Settings) Keyring(ctx context.Context) (*keyring.Keyring, error) {
	master, err := s.LoadMasterKey(ctx)
	if err != nil {
		return nil, err
	}
	return NewKeyring(master, s.WrapKeyFile)
}

// NewKeyring builds the keyring from the master key and, when wrapFile is
// set, the wrapping key in that file.
func NewKeyring(master []byte, wrapFile string) (*keyring.Keyring, error) {
	k, err := keyring.New(master)
	if err != nil || wrapFile == "" {
		return k, err
	}
	b, err := os.ReadFile(wrapFile)
	if err != nil {
		return nil, fmt.Errorf("--wrap-key-file (DSR_WRAP_KEY_FILE): %w", err)
	}
	wrap, err := keyring.ReadKey(wrapFile, b)
	if err != nil {
		return nil, fmt.Errorf("--wrap-key-file (DSR_WRAP_KEY_FILE): %w", err)
	}
	return k, k.UseWrapKey(wrap)
}

func checkWrapKey(v string) error {
	b, err := os.ReadFile(v)
	if err != nil {
		return err
	}
	_, err = keyring.ReadKey(v, b)
	return err
}

func checkHostPort(v string) error {
	_, port, err := net.SplitHostPort(v)
	if err != nil {
		return fmt.Errorf("%q is not host:port", v)
	}
	if port == "" || strings.Trim(port, "0123456789") != "" {
		return fmt.Errorf("%q has no numeric port", v)
	}
	return nil
}

var namespacePattern = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._-]{1,254}$`)

func checkNamespace(v string) error {
	if !namespacePattern.MatchString(v) {
		return fmt.Errorf("%q is not a valid Temporal namespace name", v)
	}
	return nil
}

func checkFile(v string) error {
	st, err := os.Stat(v)
	if err != nil {
		return fmt.Errorf("cannot read %s: %w", v, errors.Unwrap(err))
	}
	if st.IsDir() {
		return fmt.Errorf("%s is a directory, not a file", v)
	}
	return nil
}

func checkDir(v string) error {
	st, err := os.Stat(v)
	if err != nil {
		return fmt.Errorf("cannot use %s: %w", v, errors.Unwrap(err))
	}
	if !st.IsDir() {
		return fmt.Errorf("%s is not a directory", v)
	}
	return nil
}

func checkDatabaseURL(v string) error {
	u, err := url.Parse(v)
	if err != nil {
		return errors.New("not a valid URL")
	}
	if u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return fmt.Errorf("scheme %q: production mode needs postgres:// (SQLite is for dev mode)", u.Scheme)
	}
	if u.Host == "" {
		return errors.New("has no host")
	}
	return nil
}

func checkPublicURL(v string) error {
	u, err := url.Parse(v)
	if err != nil || u.Host == "" {
		return fmt.Errorf("%q must be an https:// URL", v)
	}
	// Plain http only for a gateway on this machine (a laptop's compose
	// stack): anywhere else the links carry tokens and codes.
	if u.Scheme != "https" && !loopbackHTTP(u) {
		return fmt.Errorf("%q must be an https:// URL (http only on localhost)", v)
	}
	return nil
}

// loopbackHTTP says whether u is plain http to this machine, where no
// network sees what it carries.
func loopbackHTTP(u *url.URL) bool {
	return u.Scheme == "http" && (u.Hostname() == "localhost" || net.ParseIP(u.Hostname()).IsLoopback())
}

// Origins lists CodecOrigins.
func (s *Settings) Origins() []string {
	var out []string
	for _, o := range strings.Split(s.CodecOrigins, ",") {
		if o = strings.TrimSpace(o); o != "" {
			out = append(out, o)
		}
	}
	return out
}

func checkOrigins(v string) error {
	for _, o := range strings.Split(v, ",") {
		o = strings.TrimSpace(o)
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			return fmt.Errorf("%q is not an origin such as https://temporal-ui.example.com", o)
		}
	}
	return nil
}

func checkGiveUp(v string) error {
	d, err := time.ParseDuration(v)
	if err != nil || d < time.Minute || d > 30*24*time.Hour {
		return fmt.Errorf("%q must be a duration from 1m to 720h, e.g. 24h", v)
	}
	return nil
}

// GiveUp is CallbackGiveUp, parsed (validated at load).
func (s *Settings) GiveUp() time.Duration {
	d, _ := time.ParseDuration(s.CallbackGiveUp)
	return d
}

func checkNetworks(v string) error {
	_, err := ParseNetworks(v)
	return err
}

// ParseNetworks reads a comma-separated list of networks (CIDR) or single
// addresses.
func ParseNetworks(list string) ([]*net.IPNet, error) {
	var out []*net.IPNet
	for _, p := range strings.Split(list, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if !strings.Contains(p, "/") {
			ip := net.ParseIP(p)
			if ip == nil {
				return nil, fmt.Errorf("%q is neither an address nor a network such as 10.0.0.0/8", p)
			}
			bits := 128
			if ip.To4() != nil {
				bits = 32
			}
			p = fmt.Sprintf("%s/%d", ip, bits)
		}
		_, n, err := net.ParseCIDR(p)
		if err != nil {
			return nil, fmt.Errorf("%q is neither an address nor a network such as 10.0.0.0/8", p)
		}
		out = append(out, n)
	}
	return out, nil
}

// Proxies is TrustedProxies, parsed (validated at load).
func (s *Settings) Proxies() []*net.IPNet {
	n, _ := ParseNetworks(s.TrustedProxies)
	return n
}

func checkLogLevel(v string) error {
	switch v {
	case "debug", "info", "warn", "error":
		return nil
	}
	return fmt.Errorf("%q must be debug, info, warn or error", v)
}
