// Entry point: take a token from a sign-in link, then render the dashboard.
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { takeTokenFromUrl } from './api';
import { App } from './app';
import './styles.css';

takeTokenFromUrl();
const root = document.getElementById('root');
if (root !== null)
  createRoot(root).render(
    <StrictMode>
      <App />
    </StrictMode>,
  );
