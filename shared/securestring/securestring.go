// Package securestring sends PowerShell SecureString parameters over the
// Exchange Online admin API the way the ExchangeOnlineManagement module
// does, as ExoHelper reproduces it (Commands/Internal/EncryptValue.ps1): the
// UTF-8 bytes of the value, RSA-encrypted with PKCS#1 v1.5 padding under a
// public key Microsoft supplies, base64-encoded. Microsoft rotates that key
// and accepts at least one older version, so the key is configuration
// (HOLDFAST_EXO_SECURESTRING_KEY), never code.
//
// Passwords are generated per call, used once and dropped: nothing here
// stores or returns them in clear beyond the caller that encrypts them.
package securestring

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"encoding/xml"
	"errors"
	"fmt"
	"math/big"
	"strings"
)

// minBits is the smallest modulus accepted: a shorter key is not the
// service's.
const minBits = 2048

// ParseKey reads the public key as ExoHelper ships it (.NET XML,
// <RSAKeyValue><Modulus>b64</Modulus><Exponent>b64</Exponent></RSAKeyValue>)
// or as PEM (PUBLIC KEY or RSA PUBLIC KEY).
func ParseKey(s string) (*rsa.PublicKey, error) {
	s = strings.TrimSpace(s)
	var key *rsa.PublicKey
	switch {
	case strings.HasPrefix(s, "<"):
		var x struct {
			Modulus  string `xml:"Modulus"`
			Exponent string `xml:"Exponent"`
		}
		if err := xml.Unmarshal([]byte(s), &x); err != nil {
			return nil, fmt.Errorf("securestring: RSAKeyValue: %w", err)
		}
		n, err := b64(x.Modulus)
		if err != nil {
			return nil, fmt.Errorf("securestring: Modulus: %w", err)
		}
		e, err := b64(x.Exponent)
		if err != nil {
			return nil, fmt.Errorf("securestring: Exponent: %w", err)
		}
		exp := new(big.Int).SetBytes(e)
		if !exp.IsInt64() || exp.Int64() < 3 || exp.Int64() > 1<<31-1 {
			return nil, errors.New("securestring: exponent out of range")
		}
		key = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(exp.Int64())}
	case strings.HasPrefix(s, "-----BEGIN"):
		blk, _ := pem.Decode([]byte(s))
		if blk == nil {
			return nil, errors.New("securestring: bad PEM")
		}
		switch blk.Type {
		case "RSA PUBLIC KEY":
			k, err := x509.ParsePKCS1PublicKey(blk.Bytes)
			if err != nil {
				return nil, fmt.Errorf("securestring: %w", err)
			}
			key = k
		case "PUBLIC KEY":
			k, err := x509.ParsePKIXPublicKey(blk.Bytes)
			if err != nil {
				return nil, fmt.Errorf("securestring: %w", err)
			}
			rk, ok := k.(*rsa.PublicKey)
			if !ok {
				return nil, errors.New("securestring: not an RSA key")
			}
			key = rk
		default:
			return nil, fmt.Errorf("securestring: PEM block %q is not a public key", blk.Type)
		}
	default:
		return nil, errors.New("securestring: want an <RSAKeyValue> XML or a PEM public key")
	}
	if key.N.BitLen() < minBits {
		return nil, fmt.Errorf("securestring: %d-bit modulus; want at least %d", key.N.BitLen(), minBits)
	}
	return key, nil
}

func b64(s string) ([]byte, error) {
	s = strings.Join(strings.Fields(s), "") // the shipped XML wraps lines
	if s == "" {
		return nil, errors.New("empty")
	}
	return base64.StdEncoding.DecodeString(s)
}

// Encrypt returns the value as the admin API expects a SecureString.
func Encrypt(key *rsa.PublicKey, value string) (string, error) {
	if key == nil {
		return "", errors.New("securestring: no key")
	}
	//lint:ignore SA1019 the service defines the padding (RSACryptoServiceProvider.Encrypt(bytes, false)).
	ct, err := rsa.EncryptPKCS1v15(rand.Reader, key, []byte(value))
	if err != nil {
		return "", fmt.Errorf("securestring: %w", err)
	}
	return base64.StdEncoding.EncodeToString(ct), nil
}

// Password classes: Entra requires three of four; every password has all
// four. Symbols avoid quotes, backslash and $ so no shell or script that
// ever sees one mangles it.
const (
	lower   = "abcdefghijkmnopqrstuvwxyz"
	upper   = "ABCDEFGHJKLMNPQRSTUVWXYZ"
	digits  = "23456789"
	symbols = "!#%*+-=?@^_~"
	// PasswordLength is well above Entra's minimum of 8 (and under 256).
	PasswordLength = 24
)

// NewPassword returns a fresh random password from crypto/rand with at
// least one character of each class.
func NewPassword() (string, error) {
	classes := []string{lower, upper, digits, symbols}
	all := strings.Join(classes, "")
	b := make([]byte, PasswordLength)
	for i := range b {
		set := all
		if i < len(classes) {
			set = classes[i] // one of each class first ...
		}
		c, err := pick(set)
		if err != nil {
			return "", err
		}
		b[i] = c
	}
	// ... then shuffled (Fisher-Yates), so their positions are random too.
	for i := len(b) - 1; i > 0; i-- {
		j, err := rand.Int(rand.Reader, big.NewInt(int64(i+1)))
		if err != nil {
			return "", fmt.Errorf("securestring: %w", err)
		}
		b[i], b[j.Int64()] = b[j.Int64()], b[i]
	}
	return string(b), nil
}

func pick(set string) (byte, error) {
	n, err := rand.Int(rand.Reader, big.NewInt(int64(len(set))))
	if err != nil {
		return 0, fmt.Errorf("securestring: %w", err)
	}
	return set[n.Int64()], nil
}

// Strong reports whether p meets what NewPassword guarantees; the
// simulator uses it to refuse weak passwords.
func Strong(p string) bool {
	if len(p) < 16 || len(p) > 256 {
		return false
	}
	has := func(set string) bool { return strings.ContainsAny(p, set) }
	n := 0
	for _, set := range []string{"abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "0123456789", symbols} {
		if has(set) {
			n++
		}
	}
	return n >= 3
}
