"""The troubleshooting engine and every product rule. No CLI or Textual code here."""
