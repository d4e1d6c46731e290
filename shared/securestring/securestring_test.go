package securestring

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
)

func xmlKey(k *rsa.PublicKey) string {
	// Wrapped like ExoHelper's PublicKey.xml, with line breaks inside.
	mod := base64.StdEncoding.EncodeToString(k.N.Bytes())
	return "<RSAKeyValue>\n  <Modulus>\n    " + mod[:40] + "\n    " + mod[40:] + "\n  </Modulus>\n  <Exponent>" +
		base64.StdEncoding.EncodeToString(big.NewInt(int64(k.E)).Bytes()) + "</Exponent>\n</RSAKeyValue>"
}

func TestParseKeyAndEncrypt(t *testing.T) {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pkix, _ := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	forms := map[string]string{
		"xml":   xmlKey(&priv.PublicKey),
		"pkix":  string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pkix})),
		"pkcs1": string(pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&priv.PublicKey)})),
	}
	for name, s := range forms {
		t.Run(name, func(t *testing.T) {
			k, err := ParseKey(s)
			if err != nil {
				t.Fatal(err)
			}
			ct, err := Encrypt(k, "Pässword-1")
			if err != nil {
				t.Fatal(err)
			}
			raw, err := base64.StdEncoding.DecodeString(ct)
			if err != nil || len(raw) != 256 {
				t.Fatalf("ciphertext: %d bytes, %v", len(raw), err)
			}
			//lint:ignore SA1019 the test decrypts what the service would.
			pt, err := rsa.DecryptPKCS1v15(nil, priv, raw)
			if err != nil || string(pt) != "Pässword-1" {
				t.Fatalf("round trip: %q %v", pt, err)
			}
		})
	}
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	for name, s := range map[string]string{
		"small key": xmlKey(&small.PublicKey), "garbage": "hello", "bad xml": "<RSAKeyValue><Modulus>!!</Modulus></RSAKeyValue>",
		"private pem": string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(small)})),
	} {
		if _, err := ParseKey(s); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := Encrypt(nil, "x"); err == nil {
		t.Error("encrypted without a key")
	}
}

func TestNewPassword(t *testing.T) {
	seen := map[string]bool{}
	for range 200 {
		p, err := NewPassword()
		if err != nil {
			t.Fatal(err)
		}
		if len(p) != PasswordLength || !Strong(p) || seen[p] {
			t.Fatalf("weak or repeated password of %d characters", len(p))
		}
		for _, set := range []string{lower, upper, digits, symbols} {
			if !strings.ContainsAny(p, set) {
				t.Fatalf("a class is missing")
			}
		}
		if strings.ContainsAny(p, "'\"\\$`") {
			t.Fatal("quote-like character in a password")
		}
		seen[p] = true
	}
	for _, weak := range []string{"", "short1A!", "alllowercaseletters", "ONLYUPPERANDlower"} {
		if Strong(weak) {
			t.Errorf("%q counted as strong", weak)
		}
	}
}
