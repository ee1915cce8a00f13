package keyring

import (
	"bufio"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Files at rest (exports, packages) are encrypted as a stream of chunks,
// each sealed with AES-256-GCM, so a file of gigabytes is written and read
// with one chunk in memory. Each chunk's nonce is the file's random prefix,
// its number and whether it is the last: chunks cannot be reordered,
// dropped or cut off at the end without the read failing.

const (
	fileMagic = "DSRF1\n"
	chunkSize = 64 << 10
	prefixLen = 7
)

// ErrNotEncrypted is a file that is not in the engine's encrypted format;
// ErrCorrupt one that does not decrypt: a wrong key, or a file changed or
// cut short since it was written.
var (
	ErrNotEncrypted = errors.New("not an encrypted file of the engine")
	ErrCorrupt      = errors.New("the file does not decrypt: wrong key, or it was changed or cut short")
)

func fileAEAD(key []byte, name string) (cipher.AEAD, error) {
	return newAEAD(derive(key, "dsr/file/v1/"+name))
}

// FileWriter encrypts what is written to it; Close seals the last chunk.
type FileWriter struct {
	w      io.Writer
	aead   cipher.AEAD
	prefix [prefixLen]byte
	n      uint32
	buf    []byte
	closed bool
}

// NewFileWriter encrypts a file called name (bound into its key, so one
// file cannot pass for another) under key.
func NewFileWriter(w io.Writer, key []byte, name string) (*FileWriter, error) {
	aead, err := fileAEAD(key, name)
	if err != nil {
		return nil, err
	}
	f := &FileWriter{w: w, aead: aead, buf: make([]byte, 0, chunkSize)}
	if _, err := rand.Read(f.prefix[:]); err != nil {
		return nil, err
	}
	if _, err := io.WriteString(w, fileMagic); err != nil {
		return nil, err
	}
	if _, err := w.Write(f.prefix[:]); err != nil {
		return nil, err
	}
	return f, nil
}

func chunkNonce(prefix [prefixLen]byte, n uint32, last bool) []byte {
	nonce := make([]byte, 12)
	copy(nonce, prefix[:])
	binary.BigEndian.PutUint32(nonce[prefixLen:], n)
	if last {
		nonce[11] = 1
	}
	return nonce
}

func (f *FileWriter) Write(p []byte) (int, error) {
	if f.closed {
		return 0, errors.New("write to a closed encrypted file")
	}
	written := 0
	for len(p) > 0 {
		if len(f.buf) == chunkSize {
			if err := f.flush(false); err != nil {
				return written, err
			}
		}
		k := min(chunkSize-len(f.buf), len(p))
		f.buf = append(f.buf, p[:k]...)
		p, written = p[k:], written+k
	}
	return written, nil
}

func (f *FileWriter) flush(last bool) error {
	if f.n == ^uint32(0) {
		return errors.New("encrypted file too large")
	}
	out := f.aead.Seal(nil, chunkNonce(f.prefix, f.n, last), f.buf, nil)
	f.n++
	f.buf = f.buf[:0]
	_, err := f.w.Write(out)
	return err
}

// Close seals the last chunk; it does not close the underlying writer.
func (f *FileWriter) Close() error {
	if f.closed {
		return nil
	}
	f.closed = true
	return f.flush(true)
}

// FileReader decrypts a file written by FileWriter.
type FileReader struct {
	r      *bufio.Reader
	aead   cipher.AEAD
	prefix [prefixLen]byte
	n      uint32
	plain  []byte
	chunk  []byte
	done   bool
}

// NewFileReader opens a file called name encrypted under key.
func NewFileReader(r io.Reader, key []byte, name string) (*FileReader, error) {
	aead, err := fileAEAD(key, name)
	if err != nil {
		return nil, err
	}
	f := &FileReader{r: bufio.NewReaderSize(r, chunkSize+64), aead: aead, chunk: make([]byte, chunkSize+aead.Overhead())}
	head := make([]byte, len(fileMagic)+prefixLen)
	if _, err := io.ReadFull(f.r, head); err != nil || string(head[:len(fileMagic)]) != fileMagic {
		return nil, ErrNotEncrypted
	}
	copy(f.prefix[:], head[len(fileMagic):])
	return f, nil
}

func (f *FileReader) Read(p []byte) (int, error) {
	for len(f.plain) == 0 {
		if f.done {
			return 0, io.EOF
		}
		if err := f.next(); err != nil {
			return 0, err
		}
	}
	n := copy(p, f.plain)
	f.plain = f.plain[n:]
	return n, nil
}

func (f *FileReader) next() error {
	n, err := io.ReadFull(f.r, f.chunk)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return err
	}
	last := n < len(f.chunk)
	if !last {
		if _, err := f.r.Peek(1); errors.Is(err, io.EOF) {
			last = true
		}
	}
	plain, err := f.aead.Open(f.chunk[:0:0], chunkNonce(f.prefix, f.n, last), f.chunk[:n], nil)
	if err != nil {
		return fmt.Errorf("chunk %d: %w", f.n, ErrCorrupt)
	}
	f.n++
	f.plain, f.done = plain, last
	return nil
}

// OpenFile reads f, written by FileWriter under key, or as it is when it
// is a plain file from before files were encrypted (plain is then true, and
// the caller checks it against the digest recorded when it was written).
func OpenFile(f *os.File, key []byte) (r io.Reader, plain bool, err error) {
	r, err = NewFileReader(f, key, filepath.Base(f.Name()))
	if errors.Is(err, ErrNotEncrypted) {
		_, err = f.Seek(0, io.SeekStart)
		return f, true, err
	}
	return r, false, err
}
