#!/usr/bin/env node
import '../dist/cli/manager.js';
