"""kdiag.model"""
