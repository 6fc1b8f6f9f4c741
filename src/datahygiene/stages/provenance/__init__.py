"""Provenance: tagging synthetic (AI-generated) media."""
