package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/pushca/pushca/internal/atomicfile"
	"github.com/pushca/pushca/provision"
)

func qrCommand() *cli.Command {
	return &cli.Command{
		Name:      "qr",
		Usage:     "QR code for an enrollment URL (PNG, SVG or on the terminal); never a certificate",
		ArgsUsage: "URL",
		UsageText: `pushca qr https://mail.example.com/enroll
   pushca qr https://mail.example.com/enroll --png enroll.png --scale 10
   pushca qr http://10.0.0.5/root_ca.crt --svg sheet-qr.svg`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "png", Usage: "write a PNG image to this file"},
			&cli.StringFlag{Name: "svg", Usage: "write an SVG image to this file"},
			&cli.BoolFlag{Name: "terminal", Usage: "draw the code on the terminal (the default when no file is named)"},
			&cli.IntFlag{Name: "scale", Value: 8, Usage: "PNG pixels per module"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usageErrorf("qr needs exactly one URL argument (see --help)")
			}
			q, err := provision.NewQR(c.Args().First())
			if err != nil {
				return err
			}
			if f := c.String("png"); f != "" {
				if c.Int("scale") < 1 || c.Int("scale") > 100 {
					return fmt.Errorf("--scale %d: want 1-100 pixels per module", c.Int("scale"))
				}
				b, err := q.PNG(c.Int("scale"))
				if err != nil {
					return err
				}
				if err := atomicfile.WriteFile(f, b, 0o644); err != nil {
					return fmt.Errorf("--png: %w", err)
				}
				fmt.Fprintf(c.App.Writer, "wrote %s (PNG, %d bytes, %d pixels a module)\n", f, len(b), c.Int("scale"))
			}
			if f := c.String("svg"); f != "" {
				svg := q.SVG()
				if err := atomicfile.WriteFile(f, svg, 0o644); err != nil {
					return fmt.Errorf("--svg: %w", err)
				}
				fmt.Fprintf(c.App.Writer, "wrote %s (SVG, %d bytes)\n", f, len(svg))
			}
			if c.Bool("terminal") || (c.String("png") == "" && c.String("svg") == "") {
				fmt.Fprint(c.App.Writer, q.Terminal())
			}
			return nil
		},
	}
}
