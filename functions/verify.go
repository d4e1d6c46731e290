package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/holdfast/holdfast/shared/auditchain"
	"github.com/holdfast/holdfast/shared/ledger"
)

// verifyAuditCmd checks a case's audit hash chain, from storage (--case)
// or from an export file (JSON or CSV). Exit 1 names the first bad row.
func verifyAuditCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("verify-audit", flag.ContinueOnError)
	ref := fs.String("case", "", "verify this case (UPN or key) as stored")
	head := fs.String("head", "", "export file: the chain head the case showed (catches rows cut from the end; JSON exports carry it)")
	files, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if (*ref == "") == (len(files) == 0) || len(files) > 1 {
		return errors.New("usage: holdfast verify-audit FILE [--head HASH] | holdfast verify-audit --case UPN|KEY")
	}
	if *ref != "" {
		st, err := adminStack(ctx)
		if err != nil {
			return err
		}
		defer st.Close()
		key, err := st.Engine.FindCase(ctx, *ref)
		if err != nil {
			return err
		}
		return report(os.Stdout, verifyStored(ctx, st.Store, key))
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		return err
	}
	return report(os.Stdout, verifyExport(b, *head))
}

// verification is what verify-audit found.
type verification struct {
	What   string
	Rows   []auditchain.Row
	Result auditchain.Result
	Err    error
}

// caseAudit is what verifyStored reads.
type caseAudit interface {
	LoadCase(ctx context.Context, key string) (ledger.CaseRecord, error)
	ListAudit(ctx context.Context, key string, fn func(ledger.AuditRecord) error) error
}

func verifyStored(ctx context.Context, s caseAudit, key string) verification {
	v := verification{What: "case " + key}
	rec, err := s.LoadCase(ctx, key)
	if err != nil {
		v.Err = err
		return v
	}
	var rows []auditchain.Row
	if err := s.ListAudit(ctx, key, func(a ledger.AuditRecord) error { rows = append(rows, a.Row()); return nil }); err != nil {
		v.Err = err
		return v
	}
	v.Rows = auditchain.ChainOrder(rows, rec.AuditHead)
	v.Result, v.Err = auditchain.Verify(v.Rows, rec.AuditHead)
	return v
}

func verifyExport(b []byte, head string) verification {
	v := verification{What: "export"}
	e, err := auditchain.Read(b)
	if err != nil {
		v.Err = err
		return v
	}
	v.What = "export of case " + e.CaseKey
	if head == "" {
		head = e.Head
	}
	v.Rows = e.Rows
	v.Result, v.Err = auditchain.Verify(e.Rows, head)
	return v
}

// report prints the verdict; a broken chain is exit 1 with the row named.
func report(w io.Writer, v verification) error {
	var bad *auditchain.BadRowError
	switch {
	case errors.As(v.Err, &bad):
		fmt.Fprintf(w, "FAIL %s: %v\n", v.What, v.Err)
		if bad.Row >= 1 && bad.Row <= len(v.Rows) {
			r := v.Rows[bad.Row-1]
			fmt.Fprintf(w, "  row %d: %s seq %d %s %s (%s) by %s\n", bad.Row, r.At.UTC().Format(time.RFC3339Nano), r.Seq, r.Action, r.Result, r.Detail, r.Actor)
		}
		return exitError(1)
	case v.Err != nil:
		return v.Err
	}
	fmt.Fprintf(w, "OK %s: %d row(s) chained and verified", v.What, v.Result.Verified)
	if v.Result.Legacy > 0 {
		fmt.Fprintf(w, ", %d earlier row(s) written before the chain existed (not verifiable)", v.Result.Legacy)
	}
	if v.Result.Head != "" {
		fmt.Fprintf(w, "; head %s", v.Result.Head)
	}
	fmt.Fprintln(w)
	return nil
}
