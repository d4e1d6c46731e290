package auditchain

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"
)

// Format names the JSON export layout.
const Format = "holdfast-audit-export-v1"

// Export is a case's audit as handed to an auditor.
type Export struct {
	Format     string    `json:"format"`
	CaseKey    string    `json:"caseKey"`
	UPN        string    `json:"upn,omitempty"`
	Head       string    `json:"head"` // the case's recorded chain head
	ExportedAt time.Time `json:"exportedAt"`
	Rows       []Row     `json:"rows"`
}

// csvHeader is the CSV export's first line. The head is not in the CSV:
// give it to verify-audit with --head to catch rows cut from the end.
var csvHeader = []string{"caseKey", "at", "seq", "actor", "action", "detail", "eventId", "result", "prev", "hash"}

// WriteJSON writes the export as indented JSON.
func WriteJSON(w io.Writer, e Export) error {
	e.Format = Format
	if e.Rows == nil {
		e.Rows = []Row{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(e)
}

// WriteCSV writes the rows as CSV with a header line.
func WriteCSV(w io.Writer, rows []Row) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(csvHeader); err != nil {
		return err
	}
	for _, r := range rows {
		rec := []string{r.CaseKey, r.At.UTC().Format(TimeLayout), strconv.Itoa(r.Seq), r.Actor, r.Action, r.Detail, r.EventID, r.Result, r.Prev, r.Hash}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// ErrFormat: the file is neither export format.
var ErrFormat = errors.New("not a holdfast audit export")

// Read parses a JSON or CSV export (detected from its first byte).
func Read(b []byte) (Export, error) {
	t := bytes.TrimSpace(b)
	if len(t) > 0 && t[0] == '{' {
		var e Export
		d := json.NewDecoder(bytes.NewReader(t))
		d.DisallowUnknownFields()
		if err := d.Decode(&e); err != nil {
			return Export{}, fmt.Errorf("%w: JSON: %v", ErrFormat, err)
		}
		if e.Format != Format {
			return Export{}, fmt.Errorf("%w: format %q, want %q", ErrFormat, e.Format, Format)
		}
		return e, nil
	}
	cr := csv.NewReader(bytes.NewReader(b))
	cr.FieldsPerRecord = len(csvHeader)
	recs, err := cr.ReadAll()
	if err != nil {
		return Export{}, fmt.Errorf("%w: CSV: %v", ErrFormat, err)
	}
	if len(recs) == 0 {
		return Export{}, fmt.Errorf("%w: empty", ErrFormat)
	}
	for i, h := range csvHeader {
		if recs[0][i] != h {
			return Export{}, fmt.Errorf("%w: CSV column %d is %q, want %q", ErrFormat, i+1, recs[0][i], h)
		}
	}
	var e Export
	e.Format = Format
	for i, rec := range recs[1:] {
		at, err := time.Parse(TimeLayout, rec[1])
		if err != nil {
			return Export{}, fmt.Errorf("%w: row %d: at: %v", ErrFormat, i+1, err)
		}
		seq, err := strconv.Atoi(rec[2])
		if err != nil {
			return Export{}, fmt.Errorf("%w: row %d: seq: %v", ErrFormat, i+1, err)
		}
		e.Rows = append(e.Rows, Row{CaseKey: rec[0], At: at, Seq: seq, Actor: rec[3], Action: rec[4], Detail: rec[5], EventID: rec[6], Result: rec[7], Prev: rec[8], Hash: rec[9]})
	}
	if len(e.Rows) > 0 {
		e.CaseKey = e.Rows[0].CaseKey
	}
	return e, nil
}
